"""The progress of a run on stderr: a live bar on a terminal, a line every few seconds elsewhere.

A bar redraws itself with carriage returns, which a log file or a pipe (CI, `tee`, a cluster
job's log) keeps as thousands of fragments on one line. Off a terminal, `LineProgress` prints one
plain line every `interval` seconds and one at the end instead:

    step 120/600 (20%) loss=0.2061 examples_per_sec=825 | 9.8 step/s, eta 49 s
"""

from __future__ import annotations

import sys
import time
from typing import Mapping, TextIO

import tqdm


class LineProgress:
    """A progress report that writes whole lines, at most one per `interval` seconds.

    The same calls as the tqdm bar it stands in for: `set_postfix`, `update`, `n`, `close`.
    """

    def __init__(
        self, total: int, initial: int = 0, *, interval: float = 5.0, stream: TextIO | None = None
    ):
        self.total, self.n = total, initial
        self._interval = interval
        self._stream = stream if stream is not None else sys.stderr
        self._postfix: dict[str, str] = {}
        self._start_step, self._start = initial, time.monotonic()
        self._last_print, self._printed_step = self._start, initial

    def set_postfix(self, postfix: Mapping[str, str], refresh: bool = False) -> None:
        del refresh  # Lines are printed by time, not on every change.
        self._postfix = dict(postfix)

    def update(self, steps: int) -> None:
        self.n += steps
        now = time.monotonic()
        if now - self._last_print >= self._interval:
            self._print(now)

    def close(self) -> None:
        if self.n != self._printed_step:  # The last step, unless its line is out already.
            self._print(time.monotonic())

    def _print(self, now: float) -> None:
        self._last_print, self._printed_step = now, self.n
        rate = (self.n - self._start_step) / max(now - self._start, 1e-9)
        eta = (self.total - self.n) / rate if rate > 0 else float("inf")
        fields = " ".join(f"{k}={v}" for k, v in self._postfix.items())
        percent = 100.0 * self.n / max(self.total, 1)
        self._stream.write(
            f"step {self.n}/{self.total} ({percent:.0f}%) {fields}".rstrip()
            + f" | {rate:.3g} step/s, eta {eta:.0f} s\n"
        )
        self._stream.flush()


def progress_bar(total: int, initial: int = 0, *, stream: TextIO | None = None):
    """A tqdm bar when `stream` (default stderr) is a terminal, else a `LineProgress`."""
    stream = stream if stream is not None else sys.stderr
    if stream.isatty():
        return tqdm.tqdm(total=total, initial=initial, unit="step", dynamic_ncols=True, file=stream)
    return LineProgress(total, initial, stream=stream)
