"""Throughput of a step function on the host clock, for the benchmark and its eager peers."""

from __future__ import annotations

import time
from typing import Callable


def steps_timer(
    step: Callable[[], object],
    *,
    items_per_step: int,
    sync: Callable[[], object] = lambda: None,
    warmup: int = 3,
) -> Callable[[int], float]:
    """Runs ``step`` ``warmup`` times, then returns ``time_steps(n)``: items/s over n more steps.

    ``sync`` waits for queued device work (``torch.cuda.synchronize``, ``jax.block_until_ready``)
    and runs after the warm-up and after each timed run, so asynchronous dispatch is counted.
    """
    for _ in range(warmup):
        step()
    sync()

    def time_steps(steps: int) -> float:
        start = time.perf_counter()
        for _ in range(steps):
            step()
        sync()
        return steps * items_per_step / (time.perf_counter() - start)

    return time_steps
