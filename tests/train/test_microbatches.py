"""Gradient accumulation: ``config.microbatches = k`` takes the step of the whole batch (on 8
devices, each slice split over them), for one player (GPT) and two (inpainting's GAN); word
vectors' sparse update refuses it by name. GPT's dropout is 0 and the models have no batch norm,
so the slices' mean gradient is the batch's exactly, up to float rounding."""

import jax
import numpy as np
import pytest
from conftest import load_config, max_relative_difference

from jaxpretrain import parallel
from jaxpretrain.train.experiment import build_experiment

STEPS = 2


def _train(config, microbatches):
    config.microbatches = microbatches
    experiment = build_experiment(config, parallel.make_mesh())
    state, losses = experiment.state, []
    for step in range(STEPS):
        state, metrics = experiment.step(state, experiment.global_batch(step))
        losses.append(float(metrics["loss"]))
    return np.asarray(losses), jax.device_get(state.params)


@pytest.mark.parametrize("name,microbatches", [("gpt2_kjv", 2), ("inpainting_digits", 2)])
def test_microbatches_take_the_whole_batch_step(name, microbatches):
    losses_1, params_1 = _train(load_config(name), 1)
    losses_k, params_k = _train(load_config(name), microbatches)
    np.testing.assert_allclose(losses_k, losses_1, rtol=1e-5)
    assert max_relative_difference(params_k, params_1) < 1e-5


def test_sparse_word_vectors_refuse_microbatches():
    config = load_config("cbow_kjv")
    config.microbatches = 2
    with pytest.raises(ValueError, match="config.microbatches=1"):
        build_experiment(config, parallel.make_mesh())
