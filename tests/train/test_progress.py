"""Progress off a terminal is whole lines, a few seconds apart; on a terminal, a tqdm bar."""

import io

import tqdm

from jaxpretrain.train import progress


class _Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_lines_are_printed_by_time_not_by_step(monkeypatch):
    clock = _Clock()
    monkeypatch.setattr(progress.time, "monotonic", clock)
    stream = io.StringIO()
    bar = progress.progress_bar(600, 100, stream=stream)
    assert isinstance(bar, progress.LineProgress)
    for step in range(101, 601):
        clock.now += 0.25  # 4 steps/s: 125 s for 500 steps, a line every 5 s (20 steps).
        bar.set_postfix({"loss": f"{1 / step:.4g}"})
        bar.update(1)
    bar.close()
    lines = stream.getvalue().splitlines()
    assert "\r" not in stream.getvalue()
    assert len(lines) == 25  # One per 5 s; step 600's line is not repeated by close().
    assert lines[0] == "step 120/600 (20%) loss=0.008333 | 4 step/s, eta 120 s"
    assert lines[-1] == "step 600/600 (100%) loss=0.001667 | 4 step/s, eta 0 s"


def test_a_terminal_gets_a_tqdm_bar():
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    bar = progress.progress_bar(10, stream=Terminal())
    assert isinstance(bar, tqdm.tqdm)
    bar.close()
