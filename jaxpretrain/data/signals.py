"""Offline 1-D signal data: MNIST-1D (Greydanus 2020, "Scaling Down Deep Learning").

MNIST-1D turns ten hand-made 1-D digit templates into 40-sample signals by padding, shearing,
scaling, translating and adding correlated and white noise; the ``mnist1d`` package generates it
locally (no download) from a seed. Its published test accuracies: logistic regression ~32%,
MLP ~68%, CNN ~94%, GRU ~91%. Generating the default 5,000 signals takes about a second, so the
result is cached per process.

Host-side numpy only.
"""

from __future__ import annotations

import functools
import random

import numpy as np

from jaxpretrain.data.base import ArraySource
from jaxpretrain.errors import DataError


@functools.lru_cache(maxsize=4)
def _mnist1d_arrays(seed: int, num_samples: int) -> dict[str, np.ndarray]:
    try:  # Imported when first needed: only MNIST-1D uses the package.
        from mnist1d.data import get_dataset_args, make_dataset  # pylint: disable=import-outside-toplevel
    except ImportError as e:
        raise ImportError("MNIST-1D needs the mnist1d package: pip install mnist1d") from e
    args = get_dataset_args()
    args.seed, args.num_samples = seed, num_samples
    # make_dataset seeds the global `random` and `np.random`; leave the caller's streams alone.
    py_state, np_state = random.getstate(), np.random.get_state()
    try:
        data = make_dataset(args)
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)
    arrays = {
        "train_signal": data["x"],
        "train_label": data["y"],
        "test_signal": data["x_test"],
        "test_label": data["y_test"],
    }
    for key, value in arrays.items():
        dtype = np.float32 if key.endswith("signal") else np.int32
        value = np.asarray(value, dtype)
        arrays[key] = value[..., None] if key.endswith("signal") else value  # [N, T, 1]
        arrays[key].setflags(write=False)
    return arrays


def mnist1d(split: str, *, seed: int = 42, num_samples: int = 5000) -> ArraySource:
    """MNIST-1D generated locally (80% train, 20% test, the package's split).

    Args:
      split: "train" or "test".
      seed: the generator's seed (42 is the published data set's).
      num_samples: train + test signals.

    Returns:
      ArraySource with "signal": float32 [N, 40, 1] (zero mean, unit variance overall) and
      "label": int32 [N] in 0..9.
    """
    if split not in ("train", "test"):
        raise DataError(f"mnist1d split must be 'train' or 'test', got {split!r}.")
    if num_samples < 10:
        raise DataError(f"mnist1d num_samples must be at least 10, got {num_samples}.")
    arrays = _mnist1d_arrays(int(seed), int(num_samples))
    return ArraySource({"signal": arrays[f"{split}_signal"], "label": arrays[f"{split}_label"]})
