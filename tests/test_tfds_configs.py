"""The TFDS configs end to end on `tfds.testing.mock_data` (flax's imagenet train_test, our loop)."""

import numpy as np
import pytest
import tensorflow_datasets as tfds
from conftest import load_config

from jaxpretrain.data import DatasetNotFoundError, build_source
from jaxpretrain.train import train
from jaxpretrain.train.metrics import read_metrics


@pytest.mark.parametrize(
    "name, num_classes",
    [
        ("supervised_cifar10", 10),
        ("supervised_imagenet2012", 1000),
    ],
)
def test_tfds_config_trains_on_mock_data(tmp_path, name, num_classes):
    config = load_config(name)
    config.total_steps = 2  # One step, logged, evaluated and checkpointed: the whole loop.
    config.log_every = 2
    with tfds.testing.mock_data(num_examples=16):
        train(config, str(tmp_path))
    rows = read_metrics(str(tmp_path))
    assert [r["step"] for r in rows] == [2]
    row = rows[0]
    assert np.isfinite(row["loss"])
    # A zero-initialised head starts at the uniform prediction: loss ln V at the first step.
    assert row["loss"] == pytest.approx(np.log(num_classes), rel=0.05)
    assert 0.0 <= row["eval/accuracy"] <= 1.0 and np.isfinite(row["eval/loss"])
    assert (tmp_path / "checkpoints" / "2").is_dir()


@pytest.mark.parametrize("name", ["supervised_cifar10", "supervised_imagenet2012"])
def test_missing_tfds_data_is_a_clear_error(tmp_path, name):
    config = load_config(name)
    config.data.data_dir = str(tmp_path / "no_tfds_here")
    with pytest.raises(DatasetNotFoundError, match="tfds build") as error:
        train(config, str(tmp_path / "run"))
    assert "no_tfds_here" in str(error.value)


def test_empty_data_dir_means_the_tfds_default(monkeypatch):
    seen = {}

    def data_source(name, **kwargs):
        seen.update(kwargs, name=name)
        return [{}]

    monkeypatch.setattr(tfds, "data_source", data_source)
    config = load_config("supervised_cifar10")
    assert config.data.data_dir == ""
    build_source(config.data, "train")
    assert seen["name"] == "cifar10"
    assert seen.get("data_dir") is None, f"data_dir={seen.get('data_dir')!r} is not TFDS's default"
