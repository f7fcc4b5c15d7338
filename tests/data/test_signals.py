"""The offline MNIST-1D source: shapes, splits, determinism, and no side effects on the caller's
global random streams (the mnist1d package reseeds them)."""

import random

import numpy as np
import pytest

from jaxpretrain.data import build_source
from jaxpretrain.data.signals import mnist1d


def test_mnist1d_splits_shapes_and_determinism():
    np.random.seed(123)
    random.seed(123)
    expected = np.random.random(), random.random()
    np.random.seed(123)
    random.seed(123)
    train = build_source({"name": "mnist1d"}, "train")
    test = build_source({"name": "mnist1d"}, "eval")
    assert (np.random.random(), random.random()) == expected, "the caller's streams moved"
    assert len(train) == 4000 and len(test) == 1000
    example = train[0]
    assert example["signal"].shape == (40, 1) and example["signal"].dtype == np.float32
    assert example["label"].dtype == np.int32
    labels = train.arrays["label"]
    assert set(np.unique(labels)) == set(range(10)) and np.bincount(labels).min() > 300
    again = mnist1d("train", num_samples=5000)  # Cached, and the same arrays.
    np.testing.assert_array_equal(again.arrays["signal"], train.arrays["signal"])
    other = mnist1d("train", seed=0, num_samples=100)
    assert len(other) == 80 and not np.array_equal(other[0]["signal"], example["signal"])


def test_bad_split_is_an_error():
    with pytest.raises(ValueError, match="'train' or 'test'"):
        mnist1d("validation")
