"""jaxpretrain.data.registry: one registry of data set names, `load_dataset`, `build_source`."""

import ml_collections
import numpy as np
import pytest

from jaxpretrain.data import BatchStream, Dataset, images, registry
from jaxpretrain.data.signals import mnist1d
from jaxpretrain.data.sklearn_digits import HASHTAGS, digits


@pytest.mark.parametrize("make_config", [dict, lambda **kw: ml_collections.ConfigDict(kw)])
def test_build_source_builtins(make_config):
    cfg = make_config(name="digits", classes=(2, 5), per_class=3, seed=7)
    train = registry.build_source(cfg, "train")
    np.testing.assert_array_equal(np.bincount(train.arrays["label"]), [3, 3])
    evaluation = registry.build_source(cfg, "eval")
    np.testing.assert_array_equal(
        evaluation.arrays["image"], digits("test", classes=(2, 5), seed=7).arrays["image"]
    )
    tags = registry.build_source(make_config(name="digits_hashtags"), "eval")
    assert tags[0]["tags"].shape == (len(HASHTAGS),)
    with pytest.raises(ValueError, match="tfds:<name>"):
        registry.build_source(make_config(name="mnist"), "train")
    with pytest.raises(ValueError, match="'train' or 'eval'"):
        registry.build_source(cfg, "test")


def test_load_dataset_holds_both_splits_the_tokenizer_and_the_config():
    config = ml_collections.ConfigDict(dict(name="digits", classes=(2, 5), per_class=0, seed=7))
    dataset = registry.load_dataset(config)
    assert isinstance(dataset, Dataset) and dataset.tokenizer is None
    assert dataset.config == config.to_dict() and type(dataset.config) is dict
    for split, source in (("train", dataset.train), ("test", dataset.eval)):
        expected = digits(split, classes=(2, 5), seed=7)  # per_class 0 keeps every image.
        np.testing.assert_array_equal(source.arrays["image"], expected.arrays["image"])
        np.testing.assert_array_equal(source.arrays["label"], expected.arrays["label"])
    assert registry.data_tokenizer(config) is None
    assert registry.load_dataset(config) == dataset  # Equal configs, equal data sets.


def test_one_registry_and_unknown_names_list_every_registered_one():
    assert set(registry.DATASETS) == {
        "digits", "digits_hashtags", "photos", "mnist1d", "text", "translation", "words",
        "bert_pretraining", "glue", "kjv_task", "sentences", "tfds"
    }  # fmt: skip
    for name in ("mnist", "tfds", "tfds:", None, ["digits"]):
        with pytest.raises(ValueError, match="Unknown data set name") as error:
            registry.load_dataset({"name": name})
        for registered in set(registry.DATASETS) - {"tfds"}:
            assert repr(registered) in str(error.value)
        assert "'tfds:<name>'" in str(error.value) and "\n" not in str(error.value)
    with pytest.raises(ValueError, match="Unknown data set name 'mnist'"):
        registry.data_tokenizer({"name": "mnist"})


@pytest.mark.parametrize(
    "name, function, fields",
    [
        ("digits", "digits", ("classes", "per_class", "seed", "test_fraction")),
        ("digits_hashtags", "digits_hashtags", ("seed", "test_fraction")),
        ("photos", "photos", ("scale", "tile", "holdout", "eval_photos")),
        ("mnist1d", "mnist1d", ("seed", "num_samples")),
    ],
)
def test_builtins_get_only_the_fields_the_config_sets(monkeypatch, name, function, fields):
    """Each default (e.g. the seed: 0 for the digits split, 42 for MNIST-1D's generator) lives
    in the data set function's signature alone: unset or None fields are not passed."""
    calls = []
    monkeypatch.setattr(registry, function, lambda split, **kw: calls.append((split, kw)))
    registry.load_dataset({"name": name, **{f: None for f in fields}})
    assert calls == [("train", {}), ("test", {})]
    calls.clear()
    given = {f: f"<{f}>" for f in fields}
    registry.load_dataset({"name": name, "unrelated": 1, **given})
    assert calls == [("train", given), ("test", given)]


def test_seed_defaults_are_the_data_set_functions():
    train = registry.build_source({"name": "digits"}, "train")
    np.testing.assert_array_equal(train.arrays["image"], digits("train", seed=0).arrays["image"])
    config = {"name": "mnist1d", "num_samples": 100}
    np.testing.assert_array_equal(
        registry.build_source(config, "train").arrays["signal"],
        mnist1d("train", seed=42, num_samples=100).arrays["signal"],
    )


def test_tfds_names_and_split_defaults(monkeypatch):
    monkeypatch.setattr(
        registry, "tfds_source", lambda name, split, *, data_dir=None: (name, split, data_dir)
    )

    def splits(config):
        dataset = registry.load_dataset(config)
        assert dataset.tokenizer is None
        return dataset.train, dataset.eval

    assert splits({"name": "tfds:cifar10"}) == (
        ("cifar10", "train", None),
        ("cifar10", "test", None),
    )
    assert splits({"name": "tfds:imagenet2012", "data_dir": "/d"}) == (
        ("imagenet2012", "train", "/d"),
        ("imagenet2012", "validation", "/d"),
    )
    assert splits({"name": "tfds:imagenet2012", "train_split": "train[:1%]"}) == (
        ("imagenet2012", "train[:1%]", None),
        ("imagenet2012", "validation", None),
    )
    assert splits({"name": "tfds:cifar10", "eval_split": "train[90%:]"})[1] == (
        "cifar10",
        "train[90%:]",
        None,
    )
    assert splits({"name": "tfds:voc/2007"}) == (
        ("voc/2007", "train", None),
        ("voc/2007", "test", None),
    )
    assert registry.build_source({"name": "tfds:cifar10"}, "eval") == ("cifar10", "test", None)


def test_tfds_mock_cifar10_and_imagenet_records_and_transforms():
    tfds = pytest.importorskip("tensorflow_datasets")
    with tfds.testing.mock_data(num_examples=3):
        for split in ("train", "eval"):
            src = registry.build_source({"name": "tfds:cifar10"}, split)
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
            src = registry.build_source(cfg, split)
            transform = images.make_image_transform(cfg, train=split == "train")
            for i in range(len(src)):  # mock images have random sizes
                out = transform(src[i], np.random.default_rng(i))
                assert out["image"].shape == (32, 32, 3) and out["image"].dtype == np.float32
                assert 0 <= out["label"] < 1000
        # The batch stream reads mocked TFDS sources one record at a time (no __getitems__).
        stream = BatchStream(
            registry.build_source(cfg, "train"),
            global_batch_size=4,
            seed=0,
            transform=images.make_image_transform(cfg, train=True),
        )
        batch = stream.local_batch(2)
        assert batch["image"].shape == (4, 32, 32, 3) and batch["label"].shape == (4,)
