"""Where a run reports: ``<workdir>/metrics.jsonl``, TensorBoard event files, its progress on
stderr (``train.progress``), the curves of every metric in ``<workdir>/curves.png``, and a
method's pictures at every evaluation (``<workdir>/pictures/<name>_<step>.png`` and TensorBoard
images).

Only the main process writes; the others get a writer that does nothing, so callers never branch.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Mapping

import numpy as np

from jaxpretrain.errors import ConfigError
from jaxpretrain.train.progress import progress_bar

METRICS_FILE = "metrics.jsonl"


def read_metrics(workdir: str) -> list[dict]:
    """Every row of a run's metrics.jsonl, in order."""
    with open(os.path.join(workdir, METRICS_FILE)) as f:
        return [json.loads(line) for line in f if line.strip()]


def plot_curves(workdir: str, filename: str = "curves.png") -> str:
    """Draw every metric of metrics.jsonl against the step, one panel each; returns the path.

    Through matplotlib's object API, not pyplot: the caller's backend (a notebook's, say) and
    figures are left as they were.
    """
    from matplotlib.figure import Figure

    rows = read_metrics(workdir)
    keys = sorted({k for row in rows for k in row if k != "step"})
    columns = min(len(keys), 4)
    lines = -(-len(keys) // columns)
    fig = Figure(figsize=(3.6 * columns, 2.6 * lines))
    axes = fig.subplots(lines, columns, squeeze=False)
    for ax, key in zip(axes.flat, keys):
        points = [(row["step"], row[key]) for row in rows if key in row]
        ax.plot(*zip(*points), marker="." if len(points) < 30 else None)
        ax.set_title(key, fontsize=9)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(keys) :]:
        ax.axis("off")
    fig.tight_layout()
    path = os.path.join(workdir, filename)
    fig.savefig(path, dpi=100)
    return path


def image_grid(rows: np.ndarray, *, pad: int = 2) -> np.ndarray:
    """Tile pictures into one RGB image: float [R, N, H, W, C] in [0, 1] (C = 1 or 3) ->
    uint8 [R·(H + pad) + pad, N·(W + pad) + pad, 3], row r of the grid holding rows[r]."""
    rows = np.asarray(rows, np.float32)
    if rows.ndim != 5 or rows.shape[-1] not in (1, 3):
        raise ConfigError(f"image_grid expects [R, N, H, W, 1 or 3] pictures, got {rows.shape}.")
    r, n, h, w, _ = rows.shape
    grid = np.ones((r * (h + pad) + pad, n * (w + pad) + pad, 3), np.float32)
    for i in range(r):
        for j in range(n):
            top, left = pad + i * (h + pad), pad + j * (w + pad)
            grid[top : top + h, left : left + w] = rows[i, j]  # C = 1 broadcasts to grey.
    return (np.clip(grid, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


class Throughput:
    """Examples per second between two calls of :meth:`measure`."""

    def __init__(self, start_step: int):
        self.restart(start_step)

    def restart(self, step: int) -> None:
        self._step, self._time = step, time.perf_counter()

    def measure(self, step: int, batch_size: int) -> float:
        now = time.perf_counter()
        rate = (step - self._step) * batch_size / max(now - self._time, 1e-9)
        self._step, self._time = step, now
        return rate


def _summary_writer_class() -> type:
    """tensorboardX's ``SummaryWriter`` (a pure-Python event writer; no TensorFlow needed),
    imported without PyTorch.

    tensorboardX imports torch whenever it is installed, only so that it also accepts
    ``torch.Tensor`` values. We pass floats and numpy arrays, and that import would add about
    1 s and 180 MiB to the start of every run on a machine that has torch. If the process has
    already imported torch, nothing is hidden.
    """
    if "torch" in sys.modules:
        from tensorboardX import SummaryWriter

        return SummaryWriter
    sys.modules["torch"] = None  # type: ignore[assignment]  # `import torch` raises ImportError.
    try:
        from tensorboardX import SummaryWriter
    finally:
        del sys.modules["torch"]
    return SummaryWriter


class MetricsWriter:
    """Appends metric rows to metrics.jsonl and TensorBoard, and drives the progress bar."""

    def __init__(self, workdir: str, *, total_steps: int, start_step: int, enabled: bool = True):
        self._enabled = enabled
        if not enabled:
            return
        os.makedirs(workdir, exist_ok=True)
        self._jsonl = open(os.path.join(workdir, METRICS_FILE), "a")
        self._tensorboard = _summary_writer_class()(os.path.join(workdir, "tensorboard"))
        self._bar = progress_bar(total_steps, start_step)

    def write(self, step: int, metrics: Mapping[str, float]) -> None:
        """One row: ``{"step": step, **metrics}``; values must be Python or numpy scalars."""
        if not self._enabled:
            return
        row = {"step": int(step), **{k: float(np.asarray(v)) for k, v in metrics.items()}}
        self._jsonl.write(json.dumps(row) + "\n")
        self._jsonl.flush()
        for key, value in row.items():
            if key != "step":
                self._tensorboard.add_scalar(key, value, step)
        self._tensorboard.flush()
        shown = {
            k: f"{v:.4g}"
            for k, v in row.items()
            if k in ("loss", "examples_per_sec") or k.startswith("eval/")
        }
        self._bar.set_postfix(shown, refresh=False)

    def write_pictures(self, step: int, pictures: Mapping[str, np.ndarray]) -> None:
        """Each ``{name: [R, N, H, W, C] in [0, 1]}`` as ``<workdir>/pictures/<name>_<step>.png``
        and as a TensorBoard image."""
        if not self._enabled or not pictures:
            return
        from PIL import Image

        directory = os.path.join(os.path.dirname(self._jsonl.name), "pictures")
        os.makedirs(directory, exist_ok=True)
        for name, rows in pictures.items():
            grid = image_grid(rows)
            Image.fromarray(grid).save(os.path.join(directory, f"{name}_{step:07d}.png"))
            self._tensorboard.add_image(name, grid, step, dataformats="HWC")
        self._tensorboard.flush()

    def advance(self, step: int) -> None:
        if self._enabled:
            self._bar.update(step - self._bar.n)

    def close(self) -> None:
        """Close the files and draw the run's curves to ``<workdir>/curves.png``."""
        if self._enabled:
            self._bar.close()
            self._jsonl.close()
            self._tensorboard.close()
            if os.path.getsize(self._jsonl.name):
                plot_curves(os.path.dirname(self._jsonl.name))
