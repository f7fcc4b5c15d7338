"""Command-line support shared by the scripts: flag and config-override errors in one line.

``ml_collections.config_flags`` rejects an override of the wrong type with a message naming the
field, but an unknown key surfaces as a bare ``AttributeError: 'key'``, and absl prints a
traceback for any error raised by a custom flags parser. Pass :func:`parse_flags` to
``absl.app.run(main, flags_parser=parse_flags)`` to get one line naming the key, and exit 1.
"""

from __future__ import annotations

import sys

from absl import flags


def _unknown_key_message(error: Exception, argv: list[str]) -> str:
    key = str(error).strip("'\"")
    culprits = [a for a in argv[1:] if a.startswith("--") and f".{key}" in a.split("=")[0]]
    return (
        f"unknown config key {key!r} in {' '.join(culprits) or argv[1:]}: no such field in the "
        "config file; check the spelling against the file, where every key is listed"
    )


def parse_flags(argv: list[str]) -> list[str]:
    try:
        return flags.FLAGS(argv)
    except (AttributeError, KeyError) as error:
        message = _unknown_key_message(error, argv)
    except (flags.Error, ValueError) as error:  # Wrong type; a config's own argument check.
        message = str(error)
    sys.stderr.write(f"FATAL Flags parsing error: {message}\n")
    sys.exit(1)
