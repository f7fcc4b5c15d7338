"""Command-line support shared by the scripts: every error we raise on purpose as one line.

``run(main)`` replaces ``absl.app.run(main)``:
- a :class:`~jaxpretrain.errors.JaxpretrainError` raised anywhere below ``main`` prints as
  ``error: <message>`` on stderr and exits non-zero, without a traceback (``--traceback`` or
  ``JAXPRETRAIN_TRACEBACK=1`` shows it); a preempted run prints ``stopped: <message>`` and exits
  128 + the signal's number. Any other exception is a bug and keeps its traceback.
- flag and config-override errors are one line naming the key: ``ml_collections.config_flags``
  rejects an override of the wrong type with a good message, but an unknown key surfaces as a
  bare ``AttributeError: 'key'``, and absl prints a traceback for any error in a flags parser.
- JAX's persistent compilation cache is on (``--compilation_cache``): a rerun of the same step
  on the same machine and JAX (a resume, a restart after preemption, another seed of a sweep)
  loads its compiled programs instead of compiling them again.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from typing import Callable

import jax
from absl import app, flags

from jaxpretrain.errors import JaxpretrainError, Preempted

_TRACEBACK = flags.DEFINE_bool(
    "traceback", False, "Show the Python traceback of errors that are otherwise one line."
)
TRACEBACK_ENV = "JAXPRETRAIN_TRACEBACK"
CACHE_ENV = "JAX_COMPILATION_CACHE_DIR"  # JAX's own variable; when set, it wins over the flag.


def default_cache_dir() -> str:
    """``$XDG_CACHE_HOME/jaxpretrain/jax`` (``~/.cache/jaxpretrain/jax`` by default)."""
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(root, "jaxpretrain", "jax")


_CACHE = flags.DEFINE_string(
    "compilation_cache",
    default_cache_dir(),
    "Directory of JAX's persistent compilation cache (keyed by the program, the JAX version and "
    f"the flags, so a stale entry is never used); '' turns it off. ${CACHE_ENV}, if set, wins.",
)
CACHE_MIN_COMPILE_SECONDS = 0.2  # Programs that compile faster are not worth a file each.


def use_compilation_cache(directory: str) -> None:
    """Turn on JAX's persistent compilation cache in ``directory`` ('' leaves it off), unless
    ``$JAX_COMPILATION_CACHE_DIR`` already chose one. Call before the first compilation.

    The size is JAX's default, unbounded (``rm -rf`` the directory to clear it), and not a
    ``jax_compilation_cache_max_size``: with a bound, JAX's eviction needs an access-time file
    beside every entry and fails to write any new entry once a process with JAX's default
    settings (a notebook sharing the directory) has left one without it.
    """
    if os.environ.get(CACHE_ENV) or not directory:
        return
    jax.config.update("jax_compilation_cache_dir", directory)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", CACHE_MIN_COMPILE_SECONDS)


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
    sys.stderr.write(f"error: {message}\n")
    sys.exit(1)


def _show_tracebacks() -> bool:
    return _TRACEBACK.value or os.environ.get(TRACEBACK_ENV, "") not in ("", "0")


def one_line_errors(main: Callable[[list[str]], object]) -> Callable[[list[str]], object]:
    """``main`` with our deliberate errors printed as one line and a non-zero exit."""

    def wrapped(argv: list[str]):
        try:
            return main(argv)
        except JaxpretrainError as error:
            if _show_tracebacks():
                raise
            label = "stopped" if isinstance(error, Preempted) else "error"
            sys.stderr.write(f"{label}: {error}\n")
            sys.stderr.flush()
            sys.exit(error.exit_code)

    return wrapped


class _WithoutOrbaxLogs(logging.Filter):
    """Drops Orbax's log records: a failed save or restore reaches the user as our one-line
    ``CheckpointError`` (naming the path and the cause), not as Orbax's tracebacks, which
    ``--traceback`` shows."""

    def filter(self, record: logging.LogRecord) -> bool:
        return f"{os.sep}orbax{os.sep}" not in record.pathname


# What Orbax's and TensorStore's background threads print after a failed restore, or when the
# interpreter exits under them: reads still in flight call back into a closed event loop, and
# imports fail during shutdown. Nothing is wrong by then that our own error does not say.
_SHUTDOWN_NOISE = ("Event loop is closed", "sys.meta_path is None")


def _is_noise(error: BaseException | None) -> bool:
    return isinstance(error, (RuntimeError, ImportError)) and any(
        text in str(error) for text in _SHUTDOWN_NOISE
    )


def _quiet_orbax() -> None:
    logging.getLogger("absl").addFilter(_WithoutOrbaxLogs())
    unraisable, thread_hook = sys.unraisablehook, threading.excepthook
    sys.unraisablehook = lambda args: None if _is_noise(args.exc_value) else unraisable(args)
    threading.excepthook = lambda args: None if _is_noise(args.exc_value) else thread_hook(args)


def run(main: Callable[[list[str]], object]) -> None:
    """``absl.app.run`` for our scripts: flag errors and our own errors as one line, and the
    compilation cache on."""

    def main_with_quiet_orbax(argv: list[str]):
        if not _show_tracebacks():
            _quiet_orbax()
        use_compilation_cache(_CACHE.value)
        return main(argv)

    app.run(one_line_errors(main_with_quiet_orbax), flags_parser=parse_flags)
