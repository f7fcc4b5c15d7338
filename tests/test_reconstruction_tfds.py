"""The inpainting and colorization TFDS configs end to end on `tfds.testing.mock_data`, and the
ImageNet context encoder fine-tuned on CIFAR-10 and VOC 2007 (mock) through `init_from`."""

import os

import numpy as np
import pytest
import tensorflow_datasets as tfds
from conftest import load_config

from jaxpretrain.train import train
from jaxpretrain.train.metrics import read_metrics

pytestmark = pytest.mark.slow


def _check_run(workdir, step, metric):
    row = read_metrics(str(workdir))[-1]
    assert row["step"] == step and np.isfinite(row["loss"]) and np.isfinite(row[metric])
    assert (workdir / "checkpoints" / str(step)).is_dir()
    pictures = os.listdir(workdir / "pictures")
    assert len(pictures) == 1 and pictures[0].endswith(f"_{step:07d}.png")


def test_colorization_imagenet_trains_on_mock_data(tmp_path):
    config = load_config("colorization_imagenet")
    config.total_steps = 2  # One step, logged, evaluated and checkpointed: the whole loop.
    config.log_every = 2
    with tfds.testing.mock_data(num_examples=16):
        train(config, str(tmp_path))
    _check_run(tmp_path, 2, "eval/ab_rmse")


def test_inpainting_imagenet_trains_and_its_encoder_fine_tunes_on_cifar10_and_voc(tmp_path):
    pretrain = load_config("inpainting_imagenet")
    pretrain.total_steps, pretrain.log_every = 1, 1
    cifar10 = load_config("finetune_inpainting_cifar10")
    voc = load_config("finetune_inpainting_voc2007")
    for config in (cifar10, voc):
        config.init_from = str(tmp_path / "inpaint")
        config.total_steps, config.log_every = 1, 1
    with tfds.testing.mock_data(num_examples=16):
        train(pretrain, str(tmp_path / "inpaint"))
        state = train(cifar10, str(tmp_path / "cifar10"))
        train(voc, str(tmp_path / "voc"))
    _check_run(tmp_path / "inpaint", 1, "eval/hole_mse")
    (row,) = read_metrics(str(tmp_path / "cifar10"))
    assert 0 <= row["eval/accuracy"] <= 1 and set(state.params) == {"backbone", "head"}
    # The first step's loss, on the inherited encoder and a zero-initialised head: ln 10.
    assert row["loss"] == pytest.approx(np.log(10), rel=1e-3)
    (row,) = read_metrics(str(tmp_path / "voc"))
    # VOC: 20 sigmoids at logit 0 cost 20 ln 2 whatever the image's classes are.
    assert row["loss"] == pytest.approx(20 * np.log(2), rel=1e-3)
    assert 0 <= row["eval/precision_at_1"] <= 1
