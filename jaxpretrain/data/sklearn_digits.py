"""Offline built-in image data: scikit-learn's handwritten digits, plain and as hashtags.

- `digits`: scikit-learn's bundled handwritten digits (1,797 8x8 greyscale images), with a
  seeded stratified train/test split, class subsets and few-label training subsets (e.g. 10 per
  class) for fine-tuning experiments;
- `digits_hashtags`: a multi-label ("hashtag") task on the same images, standing in for the
  weakly supervised hashtag pretraining of Mahajan et al. 2018, "Exploring the Limits of Weakly
  Supervised Pretraining": each digit carries the subset of `HASHTAGS` that describe it.

Host-side numpy only; no download.
"""

from __future__ import annotations

import functools
from typing import Sequence

import numpy as np

from jaxpretrain.data.base import ArraySource
from jaxpretrain.errors import DataError

NUM_DIGITS = 10

# Tags of the digits task, and which digits carry each. Every digit has several tags, so the task is
# genuinely multi-label (a sigmoid per tag, not one softmax).
HASHTAG_DIGITS: dict[str, frozenset[int]] = {
    "even": frozenset({0, 2, 4, 6, 8}),
    "odd": frozenset({1, 3, 5, 7, 9}),
    "prime": frozenset({2, 3, 5, 7}),
    "square": frozenset({0, 1, 4, 9}),  # perfect squares k*k, 0 included
    "fibonacci": frozenset({0, 1, 2, 3, 5, 8}),
    "ge5": frozenset({5, 6, 7, 8, 9}),
    "has_loop": frozenset({0, 6, 8, 9}),  # closed loops in the usual handwritten glyph
    "straight": frozenset({1, 4, 7}),  # drawn with straight strokes only
}
HASHTAGS: tuple[str, ...] = tuple(HASHTAG_DIGITS)


@functools.lru_cache(maxsize=1)
def _load_digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits as (images float32 [1797, 8, 8, 1] in [0, 1], labels int32 [1797])."""
    # Imported here: scikit-learn is slow to import and only the digits need it.
    from sklearn.datasets import load_digits  # pylint: disable=import-outside-toplevel

    bunch = load_digits()
    images = (bunch.data.reshape(-1, 8, 8, 1) / 16.0).astype(np.float32)  # pixels are 0..16
    images.setflags(write=False)
    labels = bunch.target.astype(np.int32)
    labels.setflags(write=False)
    return images, labels


def _digits_split_indices(
    labels: np.ndarray, split: str, *, seed: int, test_fraction: float, per_class: int | None
) -> np.ndarray:
    """Sorted indices of `split` in a seeded split stratified over all ten digits."""
    if split not in ("train", "test"):
        raise DataError(f"digits split must be 'train' or 'test', got {split!r}.")
    if not 0.0 < test_fraction < 1.0:
        raise DataError(f"test_fraction must be in (0, 1), got {test_fraction}.")
    if per_class is not None and per_class < 1:
        raise DataError(f"per_class must be a positive int or None, got {per_class}.")
    rng = np.random.default_rng(seed)
    chosen = []
    # Split over all ten digits whatever the class subset, so a subset's split is the restriction
    # of the full one (a pretraining run on all digits never sees a fine-tune's test images).
    for digit in range(NUM_DIGITS):
        order = rng.permutation(np.flatnonzero(labels == digit))
        n_test = int(round(len(order) * test_fraction))
        if split == "test":
            chosen.append(order[:n_test])
        else:
            chosen.append(order[n_test:] if per_class is None else order[n_test:][:per_class])
    return np.sort(np.concatenate(chosen))


def digits(
    split: str,
    *,
    classes: Sequence[int] = tuple(range(NUM_DIGITS)),
    per_class: int | None = None,
    seed: int = 0,
    test_fraction: float = 0.3,
) -> ArraySource:
    """scikit-learn's handwritten digits, split, filtered to `classes` and relabelled.

    Args:
        split: "train" or "test". The split is stratified by digit and a pure function of
            `seed`; the two splits are disjoint and together cover the data set.
        classes: the digits to keep; labels are remapped to `0..len(classes)-1` in the order given
            (`classes=(3, 8)` makes 3 -> 0 and 8 -> 1).
        per_class: if set, keep only the first `per_class` training examples of each digit (the
            training part of each digit is in a seeded random order), for few-label fine-tuning.
            None or 0 keeps them all. Ignored for "test".
        seed: seeds the split and the per-class subset.
        test_fraction: fraction of each digit that goes to "test".

    Returns:
        ArraySource with "image": float32 [N, 8, 8, 1] in [0, 1] and "label": int32 [N].
    """
    classes = tuple(int(c) for c in classes)
    valid = set(classes) <= set(range(NUM_DIGITS)) and len(set(classes)) == len(classes)
    if not classes or not valid:
        raise DataError(f"classes must be distinct digits in 0..9, got {classes}.")
    images, labels = _load_digits()
    index = _digits_split_indices(
        labels,
        split,
        seed=seed,
        test_fraction=test_fraction,
        per_class=(per_class or None) if split == "train" else None,
    )
    index = index[np.isin(labels[index], classes)]
    remap = np.full(NUM_DIGITS, -1, np.int32)
    remap[list(classes)] = np.arange(len(classes), dtype=np.int32)
    return ArraySource({"image": images[index], "label": remap[labels[index]]})


def digits_hashtags(split: str, *, seed: int = 0, test_fraction: float = 0.3) -> ArraySource:
    """The digits as a multi-label task: each image is tagged with the `HASHTAGS` its digit has.

    Args:
        split: "train" or "test" (the split `digits` makes with the same `seed`, `test_fraction`).
        seed: seeds the split.
        test_fraction: fraction of each digit that goes to "test".

    Returns:
        ArraySource with "image": float32 [N, 8, 8, 1] in [0, 1], "tags": float32
        [N, len(HASHTAGS)] in {0, 1} (column k is `HASHTAGS[k]`), and "label": int32 [N], the
        digit itself.
    """
    base = digits(split, seed=seed, test_fraction=test_fraction)
    table = np.array(  # [10, len(HASHTAGS)]: digit -> tag indicator
        [[d in HASHTAG_DIGITS[tag] for tag in HASHTAGS] for d in range(NUM_DIGITS)], np.float32
    )
    label = base.arrays["label"]
    return ArraySource({"image": base.arrays["image"], "tags": table[label], "label": label})
