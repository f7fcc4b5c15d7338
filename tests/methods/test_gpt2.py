"""The gpt2 method: next-token loss, its shift and padding contracts, training end to end."""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import load_config, overfit_one_batch

from jaxpretrain.data import build_source
from jaxpretrain.methods import gpt2
from jaxpretrain.train import train


@pytest.fixture(scope="module")
def setup():
    """The smoke config, its model and initial params, and a batch of real KJV windows."""
    config = load_config("gpt2_kjv")
    model = gpt2.make_model(config)
    source = build_source(config.data, "train")
    tokens = jnp.asarray(np.stack([source[i]["tokens"] for i in range(8)]))  # [8, W + 1]
    params = gpt2.init_params(jax.random.PRNGKey(0), {"tokens": tokens}, model=model, config=config)
    return config, model, params, tokens


def test_windows_and_model_agree_with_the_config(setup):
    config, model, params, tokens = setup
    assert tokens.shape == (8, config.data.context + 1)
    assert int(tokens.max()) < config.data.vocab_size
    assert params["wte"]["embedding"].shape == (config.data.vocab_size, config.model.width)
    assert model.max_length == config.data.context


def test_initial_loss_is_about_log_vocab(setup):
    config, model, params, tokens = setup
    loss, metrics = gpt2.loss_fn(params, {"tokens": tokens}, None, model=model, config=config)
    np.testing.assert_allclose(loss, np.log(config.data.vocab_size), rtol=0.02)
    np.testing.assert_allclose(metrics["perplexity"], np.exp(loss), rtol=1e-5)
    np.testing.assert_allclose(metrics["bits_per_token"], loss / np.log(2), rtol=1e-6)


def test_padding_rows_are_excluded(setup):
    config, model, params, tokens = setup
    real = {"tokens": tokens[:4]}
    padded = {
        "tokens": jnp.concatenate([tokens[:4], jnp.zeros_like(tokens[4:])]),
        "mask": jnp.arange(8) < 4,
    }
    want, _ = gpt2.loss_fn(params, real, None, model=model, config=config)
    got, _ = gpt2.loss_fn(params, padded, None, model=model, config=config)
    np.testing.assert_allclose(got, want, rtol=1e-6)
    evaluated = gpt2.eval_metrics(params, padded, model=model, config=config)
    np.testing.assert_allclose(evaluated["loss"], want, rtol=1e-6)


def test_logits_at_t_predict_token_t_plus_1(setup):
    """Changing the last token changes only the loss of the last position (it is a target only);
    changing token 0 changes every position's prediction but no target."""
    config, model, params, tokens = setup
    row = tokens[:1]
    w = row.shape[1] - 1

    def per_token(t):
        logits = model.apply({"params": params}, t[:, :-1])
        return np.asarray(gpt2.losses.next_token(logits, t[:, 1:]))[0]  # [W]

    base = per_token(row)
    last = per_token(row.at[0, -1].set((row[0, -1] + 1) % config.data.vocab_size))
    changed = np.flatnonzero(~np.isclose(base, last, rtol=1e-6, atol=1e-6))
    assert changed.tolist() == [w - 1]
    middle = per_token(row.at[0, 5].set((row[0, 5] + 1) % config.data.vocab_size))
    # Position 4 has the new token as its target; positions ≥ 5 read it; positions < 4 do not.
    np.testing.assert_allclose(middle[:4], base[:4], rtol=1e-6)
    assert not np.isclose(middle[4], base[4])


def test_dropout_uses_the_step_rng(setup):
    config, model, params, tokens = setup
    config = config.copy_and_resolve_references()
    config.model.dropout_rate = 0.5
    batch = {"tokens": tokens}
    kw = dict(model=gpt2.make_model(config), config=config)
    a, _ = gpt2.loss_fn(params, batch, jax.random.PRNGKey(1), **kw)
    b, _ = gpt2.loss_fn(params, batch, jax.random.PRNGKey(2), **kw)
    c = gpt2.eval_metrics(params, batch, **kw)["loss"]
    d = gpt2.eval_metrics(params, batch, **kw)["loss"]
    assert float(a) != float(b) and float(c) == float(d)


def test_overfits_one_batch():
    config = load_config("gpt2_kjv")
    first, last = overfit_one_batch(config, lr=1e-2)
    np.testing.assert_allclose(first["loss"], np.log(config.data.vocab_size), rtol=0.02)
    assert last["loss"] < 0.2, last


def test_smoke_config_trains_end_to_end(tmp_path):
    config = load_config("gpt2_kjv")
    train(config, str(tmp_path))
    with open(os.path.join(tmp_path, "metrics.jsonl")) as f:
        rows = [json.loads(line) for line in f]
    evals = [r for r in rows if "eval/loss" in r]
    assert evals, rows
    loss = evals[-1]["eval/loss"]
    assert np.isfinite(loss) and loss < np.log(config.data.vocab_size) + 0.1
    assert "eval/bits_per_token" in evals[-1]
