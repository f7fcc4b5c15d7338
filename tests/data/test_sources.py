"""Tests for jaxpretrain.data.sources: digits, hashtags, TFDS (mocked) and the config factory."""

import math

import ml_collections
import numpy as np
import pytest
from sklearn.datasets import load_digits

from jaxpretrain.data import BatchStream, images, sources


def _rows(src):
    """Every example as one sortable row: 64 pixels then the label, float64 [N, 65]."""
    a = src.arrays
    return np.concatenate([a["image"].reshape(len(src), -1), a["label"][:, None]], axis=1)


def _sorted_rows(rows):
    return rows[np.lexsort(rows.T[::-1])]


def test_array_source_indexing_and_validation():
    src = sources.ArraySource({"x": np.arange(6).reshape(3, 2), "y": np.array([5, 6, 7])})
    assert len(src) == 3
    np.testing.assert_array_equal(src[1]["x"], [2, 3])
    assert src[-1]["y"] == 7
    with pytest.raises(IndexError):
        src[3]
    with pytest.raises(ValueError, match="leading dimension"):
        sources.ArraySource({"x": np.zeros(3), "y": np.zeros(4)})


def test_digits_shapes_dtypes_ranges():
    train, test = sources.digits("train"), sources.digits("test")
    assert len(train) + len(test) == 1797
    assert len(test) == pytest.approx(0.3 * 1797, abs=10)
    for src in (train, test):
        ex = src[0]
        assert ex["image"].shape == (8, 8, 1) and ex["image"].dtype == np.float32
        assert ex["label"].shape == () and ex["label"].dtype == np.int32
        assert src.arrays["image"].min() == 0.0 and src.arrays["image"].max() == 1.0
        assert set(np.unique(src.arrays["label"])) == set(range(10))


def test_digits_split_partitions_dataset_stratified_and_seeded():
    train, test = sources.digits("train", seed=3), sources.digits("test", seed=3)
    bunch = load_digits()
    full = np.concatenate([bunch.data / 16.0, bunch.target[:, None]], axis=1)
    both = np.concatenate([_rows(train), _rows(test)])
    # Train and test together are the data set exactly once: disjoint and covering.
    np.testing.assert_allclose(_sorted_rows(both), _sorted_rows(full), atol=1e-6)
    for d in range(10):
        n = int(np.sum(bunch.target == d))
        assert int(np.sum(test.arrays["label"] == d)) == round(0.3 * n)
    again = sources.digits("train", seed=3)
    np.testing.assert_array_equal(again.arrays["image"], train.arrays["image"])
    other = sources.digits("train", seed=4)
    assert not np.array_equal(_sorted_rows(_rows(other)), _sorted_rows(_rows(train)))


def test_digits_class_filter_and_label_remap():
    full = sources.digits("train", seed=1)
    sub = sources.digits("train", classes=(8, 3), seed=1)
    np.testing.assert_array_equal(np.unique(sub.arrays["label"]), [0, 1])
    # Remap follows the order given: 8 -> 0, 3 -> 1; the images are those of the full split.
    for new, old in ((0, 8), (1, 3)):
        np.testing.assert_array_equal(
            sub.arrays["image"][sub.arrays["label"] == new],
            full.arrays["image"][full.arrays["label"] == old],
        )
    with pytest.raises(ValueError, match="distinct digits"):
        sources.digits("train", classes=(1, 1))
    with pytest.raises(ValueError, match="distinct digits"):
        sources.digits("train", classes=(10,))
    with pytest.raises(ValueError, match="'train' or 'test'"):
        sources.digits("validation")


def test_digits_per_class_few_labels():
    few = sources.digits("train", per_class=10, seed=2)
    np.testing.assert_array_equal(np.bincount(few.arrays["label"]), [10] * 10)
    full_rows = {r.tobytes() for r in _rows(sources.digits("train", seed=2))}
    assert all(r.tobytes() in full_rows for r in _rows(few))
    few_b = sources.digits("train", per_class=10, seed=5)
    assert {r.tobytes() for r in _rows(few)} != {r.tobytes() for r in _rows(few_b)}
    # per_class only affects "train".
    np.testing.assert_array_equal(
        sources.digits("test", per_class=10, seed=2).arrays["image"],
        sources.digits("test", seed=2).arrays["image"],
    )
    few_sub = sources.digits("train", classes=(0, 7), per_class=4, seed=2)
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
    assert sources.HASHTAGS == (
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
    src = sources.digits_hashtags("train")
    plain = sources.digits("train")
    np.testing.assert_array_equal(src.arrays["image"], plain.arrays["image"])
    tags, labels = src.arrays["tags"], src.arrays["label"]
    assert tags.dtype == np.float32 and tags.shape == (len(src), len(sources.HASHTAGS))
    expected = np.array([[rules[t](int(d)) for t in sources.HASHTAGS] for d in labels], np.float32)
    np.testing.assert_array_equal(tags, expected)
    assert set(np.unique(labels)) == set(range(10))


@pytest.mark.parametrize("make_config", [dict, lambda **kw: ml_collections.ConfigDict(kw)])
def test_build_source_builtins(make_config):
    cfg = make_config(name="digits", classes=(2, 5), per_class=3, seed=7)
    train = sources.build_source(cfg, "train")
    np.testing.assert_array_equal(np.bincount(train.arrays["label"]), [3, 3])
    evaluation = sources.build_source(cfg, "eval")
    np.testing.assert_array_equal(
        evaluation.arrays["image"], sources.digits("test", classes=(2, 5), seed=7).arrays["image"]
    )
    tags = sources.build_source(make_config(name="digits_hashtags"), "eval")
    assert tags[0]["tags"].shape == (len(sources.HASHTAGS),)
    with pytest.raises(ValueError, match="tfds:<name>"):
        sources.build_source(make_config(name="mnist"), "train")
    with pytest.raises(ValueError, match="'train' or 'eval'"):
        sources.build_source(cfg, "test")


def test_build_source_tfds_split_names(monkeypatch):
    calls = []
    monkeypatch.setattr(
        sources,
        "tfds_source",
        lambda name, split, *, data_dir=None: calls.append((name, split, data_dir)),
    )
    sources.build_source({"name": "tfds:cifar10"}, "eval")
    sources.build_source({"name": "tfds:imagenet2012", "data_dir": "/d"}, "eval")
    sources.build_source({"name": "tfds:imagenet2012", "train_split": "train[:1%]"}, "train")
    sources.build_source({"name": "tfds:cifar10", "eval_split": "train[90%:]"}, "eval")
    assert calls == [
        ("cifar10", "test", None),
        ("imagenet2012", "validation", "/d"),
        ("imagenet2012", "train[:1%]", None),
        ("cifar10", "train[90%:]", None),
    ]


def test_tfds_mock_cifar10_and_imagenet_records_and_transforms():
    tfds = pytest.importorskip("tensorflow_datasets")
    with tfds.testing.mock_data(num_examples=3):
        for split in ("train", "eval"):
            src = sources.build_source({"name": "tfds:cifar10"}, split)
            assert len(src) == 3
            ex = src[0]
            assert ex["image"].shape == (32, 32, 3) and ex["image"].dtype == np.uint8
            out = images.make_image_transform({"name": "tfds:cifar10"}, train=split == "train")(
                ex, np.random.default_rng(0)
            )
            assert set(out) == {"image", "label"}
            assert out["image"].shape == (32, 32, 3) and out["image"].dtype == np.float32
            assert out["label"].dtype == np.int32
        cfg = {"name": "tfds:imagenet2012", "image_size": 32}
        for split in ("train", "eval"):
            src = sources.build_source(cfg, split)
            transform = images.make_image_transform(cfg, train=split == "train")
            for i in range(len(src)):  # mock images have random sizes
                out = transform(src[i], np.random.default_rng(i))
                assert out["image"].shape == (32, 32, 3) and out["image"].dtype == np.float32
                assert 0 <= out["label"] < 1000
        # The batch stream reads mocked TFDS sources one record at a time (no __getitems__).
        stream = BatchStream(
            sources.build_source(cfg, "train"),
            global_batch_size=4,
            seed=0,
            transform=images.make_image_transform(cfg, train=True),
        )
        batch = stream.local_batch(2)
        assert batch["image"].shape == (4, 32, 32, 3) and batch["label"].shape == (4,)


def test_tfds_missing_dataset_is_clear_error(tmp_path, monkeypatch):
    pytest.importorskip("tensorflow_datasets")
    data_dir = str(tmp_path / "nowhere")
    with pytest.raises(sources.DatasetNotFoundError, match="tfds build cifar10") as info:
        sources.build_source({"name": "tfds:cifar10", "data_dir": data_dir}, "train")
    assert isinstance(info.value, FileNotFoundError)
    assert data_dir in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(sources.DatasetNotFoundError, match="downloads/manual"):
        sources.tfds_source("imagenet2012", "validation", data_dir=data_dir)
    # The default data_dir fails differently inside tfds (KeyError); same error for the user.
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "default"))
    with pytest.raises(sources.DatasetNotFoundError, match="tfds build cifar10"):
        sources.tfds_source("cifar10", "train")
    assert not (tmp_path / "nowhere").exists()  # nothing was downloaded or built
