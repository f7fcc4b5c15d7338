"""train.timing.steps_timer: warm-up steps run before timing, sync after each timed run."""

import time

from jaxpretrain.train.timing import steps_timer


def test_steps_timer_warms_up_syncs_and_counts_items():
    calls = {"step": 0, "sync": 0}

    def step():
        calls["step"] += 1
        time.sleep(0.01)

    def sync():
        calls["sync"] += 1

    time_steps = steps_timer(step, items_per_step=4, sync=sync, warmup=2)
    assert calls == {"step": 2, "sync": 1}
    rate = time_steps(3)
    assert calls == {"step": 5, "sync": 2}
    assert 0 < rate <= 4 / 0.01  # Each step sleeps 10 ms: at most 400 items/s.
