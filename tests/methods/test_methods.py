"""Every method: overfits one batch, its metrics mean what they say, bad configs fail clearly."""

import inspect

import jax.numpy as jnp
import numpy as np
import pytest
from conftest import load_config, overfit_one_batch

from jaxpretrain import parallel
from jaxpretrain.data import HASHTAGS
from jaxpretrain.methods import METHODS, get_method, supervised
from jaxpretrain.train.experiment import build_experiment


def test_supervised_overfits_one_batch():
    first, last = overfit_one_batch(load_config("supervised_digits"))
    np.testing.assert_allclose(first["loss"], np.log(5), rtol=1e-3)  # Zero-initialised head.
    assert last["accuracy"] == 1.0 and last["loss"] < 0.05


@pytest.mark.parametrize("loss", ["softmax", "sigmoid"])
def test_hashtag_overfits_one_batch(loss):
    config = load_config("hashtag_digits")
    config.loss = loss
    first, last = overfit_one_batch(config)
    if loss == "sigmoid":  # Zero logits: every tag's BCE is ln 2.
        np.testing.assert_allclose(first["loss"], len(HASHTAGS) * np.log(2), rtol=1e-3)
    assert last["precision_at_1"] == 1.0


def test_hashtag_learns_multilabel_data():
    """Trained on real multi-label data, the sigmoid scores recover every tag of held-out digits."""
    config = load_config("hashtag_digits", None)
    config.loss = "sigmoid"
    config.total_steps, config.batch_size = 150, 64
    experiment = build_experiment(config, parallel.make_mesh())
    state = experiment.state
    for step in range(config.total_steps):
        state, _ = experiment.step(state, experiment.global_batch(step))
    evaluated = experiment.evaluate(state.params)
    assert evaluated["precision_at_1"] > 0.9
    batch = next(experiment.eval_batches())
    logits = experiment.model.apply({"params": state.params}, batch["image"])
    predicted = np.asarray(logits > 0)
    tags = np.asarray(batch["tags"]).astype(bool)
    assert tags.sum(1).min() >= 2, "the data set is multi-label: every digit has several tags"
    assert (predicted == tags).mean() > 0.9


def test_eval_metrics_ignore_padding_rows():
    config = load_config("supervised_digits")
    experiment = build_experiment(config, parallel.make_mesh())
    model, params = experiment.model, experiment.state.params
    batch = {
        "image": jnp.asarray(np.random.default_rng(0).random((8, 8, 8, 1)), jnp.float32),
        "label": jnp.arange(8) % 5,
    }
    padded = {
        "image": jnp.concatenate([batch["image"], jnp.zeros((8, 8, 8, 1))]),
        "label": jnp.concatenate([batch["label"], jnp.full(8, 4)]),
        "mask": jnp.arange(16) < 8,
    }
    loss, metrics = supervised.loss_fn(params, batch, None, model=model, config=config)
    loss_padded, metrics_padded = supervised.loss_fn(
        params, padded, None, model=model, config=config
    )
    np.testing.assert_allclose(loss_padded, loss, rtol=1e-6)
    np.testing.assert_allclose(metrics_padded["accuracy"], metrics["accuracy"])


def test_finetune_needs_init_from():
    config = load_config("finetune_digits")
    config.init_from = ""
    with pytest.raises(ValueError, match="init_from"):
        get_method("finetune").make_model(config)


def test_unknown_method_and_loss():
    with pytest.raises(ValueError, match="one of"):
        get_method("nope")
    config = load_config("hashtag_digits")
    config.loss = "hinge"
    experiment = build_experiment(config, parallel.make_mesh())
    with pytest.raises(ValueError, match="config.loss"):  # Raised while tracing the first step.
        experiment.step(experiment.state, experiment.global_batch(0))


@pytest.mark.parametrize("name", sorted(METHODS))
def test_method_interface(name):
    method = METHODS[name]
    for attribute in ("make_model", "init_params", "preprocess", "ENCODER"):
        assert hasattr(method, attribute), f"{name} lacks {attribute}"
    assert isinstance(method.ENCODER, str)  # The inherited subtree's path, "" for all.
    assert not hasattr(method, "encoder_params")  # ENCODER alone says what is inherited.
    assert hasattr(method, "loss_fn") != hasattr(method, "loss_fns")
    # The data set is handed in, never loaded by the method (methods/__init__.py).
    make_model = inspect.signature(method.make_model).parameters
    assert list(make_model) == ["config", "dataset"] and make_model["dataset"].default is None
    preprocess = inspect.signature(method.preprocess).parameters
    assert list(preprocess) == ["config", "train", "dataset"]
    assert preprocess["train"].kind is preprocess["dataset"].kind is inspect.Parameter.KEYWORD_ONLY
    assert preprocess["dataset"].default is None
