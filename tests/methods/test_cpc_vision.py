"""CPC on images: one batch overfits, the TFDS configs train on mock data, and the image
fine-tune path probes a CPC run's frozen patch encoder."""

import math

import jax
import numpy as np
import pytest
import tensorflow_datasets as tfds
from conftest import load_config, overfit_one_batch

from jaxpretrain.train import train
from jaxpretrain.train.checkpoint import restore_params
from jaxpretrain.train.metrics import read_metrics


def test_first_step_is_k_ln_candidates_and_one_batch_overfits():
    config = load_config("cpc_digits")
    config.batch_size = 8
    first, last = overfit_one_batch(config, steps=30, lr=1e-2)
    candidates = config.batch_size * 49  # A 7x7 grid per image.
    assert first["candidates"] == candidates
    np.testing.assert_allclose(first["loss"], 3 * math.log(candidates), rtol=1e-5)
    assert last["loss"] < 0.8 * first["loss"], last
    bounds = [float(last[f"mi_bound/dt{k}"]) for k in range(1, 4)]
    assert math.log(candidates) > bounds[0] > bounds[2] > 0, bounds  # Nearer rows are easier.


@pytest.mark.slow
@pytest.mark.parametrize("name", ["cpc_cifar10", "cpc_imagenet"])
def test_tfds_config_trains_on_mock_data(tmp_path, name):
    config = load_config(name)
    config.total_steps, config.log_every = 2, 2
    with tfds.testing.mock_data(num_examples=16):
        train(config, str(tmp_path))
    (row,) = read_metrics(str(tmp_path))
    grid = 7 if name == "cpc_cifar10" else (64 - 16) // 8 + 1
    assert row["candidates"] == config.batch_size * grid * grid
    assert np.isfinite(row["loss"]) and np.isfinite(row["eval/loss"])
    for k in range(1, config.cpc.offsets + 1):
        assert row[f"mi_bound/dt{k}"] <= math.log(row["candidates"])


@pytest.mark.slow
def test_finetune_probes_the_frozen_patch_encoder(tmp_path):
    train(load_config("cpc_digits"), str(tmp_path / "cpc"))
    probe = load_config("cpc_probe_digits")
    probe.init_from = str(tmp_path / "cpc")
    params = jax.device_get(train(probe, str(tmp_path / "probe")).params)
    pretrained = restore_params(str(tmp_path / "cpc"))["backbone"]
    jax.tree.map(np.testing.assert_array_equal, params["backbone"], pretrained)
    assert np.isfinite(read_metrics(str(tmp_path / "probe"))[-1]["eval/accuracy"])
