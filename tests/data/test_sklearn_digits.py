"""jaxpretrain.data.sklearn_digits: the digits split, class subsets, few labels, and hashtags."""

import math

import numpy as np
import pytest
from sklearn.datasets import load_digits

from jaxpretrain.data import sklearn_digits


def _rows(src):
    """Every example as one sortable row: 64 pixels then the label, float64 [N, 65]."""
    a = src.arrays
    return np.concatenate([a["image"].reshape(len(src), -1), a["label"][:, None]], axis=1)


def _sorted_rows(rows):
    return rows[np.lexsort(rows.T[::-1])]


def test_digits_shapes_dtypes_ranges():
    train, test = sklearn_digits.digits("train"), sklearn_digits.digits("test")
    assert len(train) + len(test) == 1797
    assert len(test) == pytest.approx(0.3 * 1797, abs=10)
    for src in (train, test):
        ex = src[0]
        assert ex["image"].shape == (8, 8, 1) and ex["image"].dtype == np.float32
        assert ex["label"].shape == () and ex["label"].dtype == np.int32
        assert src.arrays["image"].min() == 0.0 and src.arrays["image"].max() == 1.0
        assert set(np.unique(src.arrays["label"])) == set(range(10))


def test_digits_split_partitions_dataset_stratified_and_seeded():
    train, test = sklearn_digits.digits("train", seed=3), sklearn_digits.digits("test", seed=3)
    bunch = load_digits()
    full = np.concatenate([bunch.data / 16.0, bunch.target[:, None]], axis=1)
    both = np.concatenate([_rows(train), _rows(test)])
    # Train and test together are the data set exactly once: disjoint and covering.
    np.testing.assert_allclose(_sorted_rows(both), _sorted_rows(full), atol=1e-6)
    for d in range(10):
        n = int(np.sum(bunch.target == d))
        assert int(np.sum(test.arrays["label"] == d)) == round(0.3 * n)
    again = sklearn_digits.digits("train", seed=3)
    np.testing.assert_array_equal(again.arrays["image"], train.arrays["image"])
    other = sklearn_digits.digits("train", seed=4)
    assert not np.array_equal(_sorted_rows(_rows(other)), _sorted_rows(_rows(train)))


def test_digits_class_filter_and_label_remap():
    full = sklearn_digits.digits("train", seed=1)
    sub = sklearn_digits.digits("train", classes=(8, 3), seed=1)
    np.testing.assert_array_equal(np.unique(sub.arrays["label"]), [0, 1])
    # Remap follows the order given: 8 -> 0, 3 -> 1; the images are those of the full split.
    for new, old in ((0, 8), (1, 3)):
        np.testing.assert_array_equal(
            sub.arrays["image"][sub.arrays["label"] == new],
            full.arrays["image"][full.arrays["label"] == old],
        )
    with pytest.raises(ValueError, match="distinct digits"):
        sklearn_digits.digits("train", classes=(1, 1))
    with pytest.raises(ValueError, match="distinct digits"):
        sklearn_digits.digits("train", classes=(10,))
    with pytest.raises(ValueError, match="'train' or 'test'"):
        sklearn_digits.digits("validation")


def test_digits_per_class_few_labels():
    few = sklearn_digits.digits("train", per_class=10, seed=2)
    np.testing.assert_array_equal(np.bincount(few.arrays["label"]), [10] * 10)
    full_rows = {r.tobytes() for r in _rows(sklearn_digits.digits("train", seed=2))}
    assert all(r.tobytes() in full_rows for r in _rows(few))
    few_b = sklearn_digits.digits("train", per_class=10, seed=5)
    assert {r.tobytes() for r in _rows(few)} != {r.tobytes() for r in _rows(few_b)}
    # per_class only affects "train".
    np.testing.assert_array_equal(
        sklearn_digits.digits("test", per_class=10, seed=2).arrays["image"],
        sklearn_digits.digits("test", seed=2).arrays["image"],
    )
    every = sklearn_digits.digits("train", per_class=0, seed=2)  # 0, like None, keeps them all.
    np.testing.assert_array_equal(
        every.arrays["image"], sklearn_digits.digits("train", seed=2).arrays["image"]
    )
    with pytest.raises(ValueError, match="per_class must be a positive int or None"):
        sklearn_digits.digits("train", per_class=-1)
    few_sub = sklearn_digits.digits("train", classes=(0, 7), per_class=4, seed=2)
    np.testing.assert_array_equal(np.bincount(few_sub.arrays["label"]), [4, 4])


def _is_prime(d):
    return d >= 2 and all(d % k for k in range(2, d))


def _fibonacci_up_to(n):
    out, a, b = set(), 0, 1
    while a <= n:
        out.add(a)
        a, b = b, a + b
    return out


def test_digits_hashtags_match_definitions():
    assert sklearn_digits.HASHTAGS == (
        "even",
        "odd",
        "prime",
        "square",
        "fibonacci",
        "ge5",
        "has_loop",
        "straight",
    )
    rules = {
        "even": lambda d: d % 2 == 0,
        "odd": lambda d: d % 2 == 1,
        "prime": _is_prime,
        "square": lambda d: math.isqrt(d) ** 2 == d,
        "fibonacci": lambda d: d in _fibonacci_up_to(9),
        "ge5": lambda d: d >= 5,
        "has_loop": lambda d: d in (0, 6, 8, 9),
        "straight": lambda d: d in (1, 4, 7),
    }
    src = sklearn_digits.digits_hashtags("train")
    plain = sklearn_digits.digits("train")
    np.testing.assert_array_equal(src.arrays["image"], plain.arrays["image"])
    tags, labels = src.arrays["tags"], src.arrays["label"]
    assert tags.dtype == np.float32 and tags.shape == (len(src), len(sklearn_digits.HASHTAGS))
    expected = np.array(
        [[rules[t](int(d)) for t in sklearn_digits.HASHTAGS] for d in labels], np.float32
    )
    np.testing.assert_array_equal(tags, expected)
    assert set(np.unique(labels)) == set(range(10))
