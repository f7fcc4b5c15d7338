"""Command-line support shared by the scripts: config-override errors that name the key.

``ml_collections.config_flags`` already rejects an override of the wrong type with a message naming
the field, but an unknown key surfaces as a bare ``AttributeError: 'key'`` traceback. Pass
:func:`parse_flags` to ``absl.app.run(main, flags_parser=parse_flags)`` to turn that into one line.
"""

from __future__ import annotations

from absl import flags


def parse_flags(argv: list[str]) -> list[str]:
    try:
        return flags.FLAGS(argv)
    except (AttributeError, KeyError) as error:
        key = str(error).strip("'\"")
        culprits = [a for a in argv[1:] if a.startswith("--") and f".{key}" in a.split("=")[0]]
        raise flags.IllegalFlagValueError(
            f"unknown config key {key!r} in {' '.join(culprits) or argv[1:]}: no such field in the "
            "config file; check the spelling against the file, where every key is listed"
        ) from None
