"""One trainer per workdir: an advisory lock that a second trainer meets at once.

Two trainers writing one workdir would interleave checkpoints and metrics, and the result would be
whichever wrote last. The trainer (process 0 of a multi-host job) holds ``<workdir>/lock``: an
``fcntl.flock`` on the file, which the kernel releases when the process ends however it ends, and
in the file its host, pid and start time for the message another trainer shows. A lock file left
by a process that is gone is taken over with a warning. (``flock`` works across hosts on NFSv4
and most cluster filesystems; a filesystem without it fails at once with its own error.)
"""

from __future__ import annotations

import datetime
import fcntl
import json
import os
import socket
import sys

from jaxpretrain.errors import WorkdirInUseError

LOCK_FILE = "lock"


class WorkdirLock:
    """``with WorkdirLock(workdir):`` holds the workdir for the block.

    Raises:
      WorkdirInUseError: another live process holds it; the message names its host and pid.
    """

    def __init__(self, workdir: str):
        self.path = os.path.join(os.path.abspath(workdir), LOCK_FILE)
        self._file = None

    def __enter__(self) -> "WorkdirLock":
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        handle = open(self.path, "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _describe(_read(handle))
            handle.close()
            raise WorkdirInUseError(
                f"{os.path.dirname(self.path)} is in use by another trainer ({holder}); stop "
                "that run first, or give this one another --workdir"
            ) from None
        previous = _read(handle)
        if previous:
            print(
                f"warning: took over the lock of {os.path.dirname(self.path)} from a trainer "
                f"that is no longer running ({_describe(previous)})",
                file=sys.stderr,
                flush=True,
            )
        handle.seek(0)
        handle.truncate()
        json.dump(
            {
                "host": socket.gethostname(),
                "pid": os.getpid(),
                "since": datetime.datetime.now().isoformat(timespec="seconds"),
            },
            handle,
        )
        handle.flush()
        self._file = handle
        return self

    def __exit__(self, *exc) -> None:
        # Emptied before unlocking, so the next trainer sees a clean hand-over, not a dead one.
        self._file.seek(0)
        self._file.truncate()
        self._file.flush()
        fcntl.flock(self._file, fcntl.LOCK_UN)
        self._file.close()
        self._file = None


def _read(handle) -> dict:
    handle.seek(0)
    try:
        return json.loads(handle.read() or "{}")
    except json.JSONDecodeError:
        return {"unreadable": True}


def _describe(holder: dict) -> str:
    if not holder or "pid" not in holder:
        return "no holder recorded"
    return (
        f"pid {holder['pid']} on host {holder.get('host', '?')}, since {holder.get('since', '?')}"
    )
