"""Stopping cleanly when the scheduler says so: SIGTERM (preemption) and SIGINT (Ctrl-C).

TPU and cloud GPU jobs are stopped with SIGTERM and a short grace period. On one process the
watch records the signal, and the loop finishes the step it is in, writes a checkpoint of it and
exits (``errors.Preempted``), so no step is lost. A second Ctrl-C stops at once without saving.
On several processes every host must save the same step: JAX's preemption service (started by
``jax.distributed.initialize``) catches SIGTERM and ``parallel.reached_preemption_sync_point``
names the step, the same on every host, so the watch installs no handler of its own there.
"""

from __future__ import annotations

import signal
import sys
import threading

import jax

from jaxpretrain import parallel

_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class PreemptionWatch:
    """``with PreemptionWatch() as watch:`` ... ``if watch.requested(step): save and stop``."""

    def __init__(self):
        self.signum: int | None = None
        self._previous: dict[int, object] = {}

    def __enter__(self) -> "PreemptionWatch":
        # Handlers can only be installed from the main thread; a single process handles its own.
        if jax.process_count() == 1 and threading.current_thread() is threading.main_thread():
            self._previous = {s: signal.signal(s, self._handle) for s in _SIGNALS}
        return self

    def __exit__(self, *exc) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous = {}

    def _handle(self, signum: int, frame) -> None:
        if self.signum is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt  # The second Ctrl-C: stop now, without a checkpoint.
        self.signum = signum
        print(
            f"received {signal.Signals(signum).name}: finishing this step and writing a "
            "checkpoint (Ctrl-C again stops at once, without one)",
            file=sys.stderr,
            flush=True,
        )

    def requested(self, step: int) -> bool:
        """Whether to checkpoint ``step`` (just finished) and stop. Call after every step."""
        if parallel.reached_preemption_sync_point(step):
            self.signum = self.signum or signal.SIGTERM
        return self.signum is not None

    @property
    def signal_name(self) -> str:
        return signal.Signals(self.signum).name
