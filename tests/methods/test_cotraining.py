"""Co-training: the estimates against a NumPy reference, masks, the first step, overfitting one
batch, and bad configs failing before anything compiles."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import load_config, overfit_one_batch

from jaxpretrain import parallel
from jaxpretrain.methods import cotraining
from jaxpretrain.models import ConditionalModels, MarginalModel
from jaxpretrain.train.experiment import build_experiment

MODEL = {"marginal": MarginalModel(3), "conditional": ConditionalModels(3, 2)}


def _log_softmax(x):
    x = x - x.max(-1, keepdims=True)
    return x - np.log(np.exp(x).sum(-1, keepdims=True))


def _reference(q, c, params):
    """Ĥ(z) and Ĥ_Δt(z|c) position by position: -Σ_k q_t(k) ln P(k), -Σ_k q_{t+Δt}(k) ln P(k|c_t)."""
    B, T, _ = q.shape
    log_p = _log_softmax(np.asarray(params["marginal"]["logits"]))
    h_z = np.mean([-q[b, t] @ log_p for b in range(B) for t in range(T)])
    kernel, bias = (np.asarray(params["conditional"][k]) for k in ("kernel", "bias"))
    h_zc = []
    for dt in (1, 2):
        terms = [
            -q[b, t + dt] @ _log_softmax(c[b, t] @ kernel[dt - 1] + bias[dt - 1])
            for b in range(B)
            for t in range(T - dt)
        ]
        h_zc.append(np.mean(terms))
    return h_z, np.array(h_zc)


def _random_inputs(seed, B=4, T=6):
    rng = np.random.default_rng(seed)
    q = jax.nn.softmax(jnp.asarray(rng.normal(size=(B, T, 3)) * 2, jnp.float32))
    c = jnp.asarray(rng.normal(size=(B, T, 5)), jnp.float32)
    params = {
        "marginal": {"logits": jnp.asarray(rng.normal(size=3), jnp.float32)},
        "conditional": {
            "kernel": jnp.asarray(rng.normal(size=(2, 5, 3)), jnp.float32),
            "bias": jnp.asarray(rng.normal(size=(2, 3)), jnp.float32),
        },
    }
    return q, c, params


def test_estimates_match_numpy_and_masking_equals_slicing():
    q, c, params = _random_inputs(0)
    estimate = jax.jit(
        lambda q, c, p, w: cotraining.entropy_estimates(q, c, p, model=MODEL, where=w)
    )
    got = estimate(q, c, params, None)
    h_z, h_zc = _reference(np.asarray(q), np.asarray(c), params)
    np.testing.assert_allclose(got["marginal"], h_z, rtol=1e-5)
    np.testing.assert_allclose(got["conditional"], h_zc, rtol=1e-5)
    np.testing.assert_allclose(got["mi"], h_z - h_zc, rtol=1e-5, atol=1e-6)
    where = jnp.array([True, False, True, False])
    masked = estimate(q.at[1].set(jnp.nan), c.at[1].set(jnp.nan), params, where)
    sliced = estimate(q[where], c[where], params, None)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5), masked, sliced)


def test_first_step_is_ln_k_and_one_batch_raises_the_estimate():
    config = load_config("cotraining_mnist1d")
    first, last = overfit_one_batch(config, steps=40, lr=1e-2)
    K = config.cotraining.num_codes
    # Zero-initialised entropy models (they play first): Ĥ(z) = Ĥ_Δt(z|c) = ln K exactly.
    np.testing.assert_allclose(first["marginal/loss"], math.log(K), rtol=1e-6)
    offsets = config.cotraining.offsets
    np.testing.assert_allclose(first["conditional/loss"], offsets * math.log(K), rtol=1e-6)
    assert first["encoder/code_entropy"] > 0.9 * math.log(K)  # Soft codes at the start.
    assert last["encoder/mi/dt1"] > 0.1, last  # The codes became predictable from the past...
    assert last["encoder/code_perplexity"] > 1.5, last  # ...without all frames taking one code.
    assert last["encoder/code_entropy"] < 0.5 * math.log(K), last  # Sharpened.


@pytest.mark.parametrize(
    "key, value, match",
    [
        ("cotraining.num_codes", 1, "num_codes must be >= 2"),
        ("cotraining.marginal_weight", 0.0, r"marginal_weight λ must lie in \(0"),
        ("cotraining.marginal_weight", 4.0, r"must lie in \(0, Σ λ_Δt = 4\)"),
        ("cotraining.offset_weights", (1.0, 0.0, 1.0, 1.0), "must all be > 0"),
        ("cotraining.offset_weights", (1.0, 1.0), "one λ_Δt per offset"),
        ("cotraining.code_entropy_weight", -1.0, "code_entropy_weight γ must be >= 0"),
        ("model.backbone", "resnet", "must be 'cpc_sequence'"),
    ],
)
def test_bad_config_is_a_one_line_error(key, value, match):
    config = load_config("cotraining_mnist1d")
    block, name = key.split(".")
    config[block][name] = value
    with pytest.raises(ValueError, match=match) as error:
        cotraining.make_model(config)
    assert "\n" not in str(error.value)


def test_offset_longer_than_the_encoded_sequence_fails_before_compiling():
    config = load_config("cotraining_mnist1d")
    config.cotraining.offsets = 40 // math.prod(config.model.strides)  # = T': no z_{t+T'}.
    with pytest.raises(ValueError, match="too short for the largest offset K = 10"):
        build_experiment(config, parallel.make_mesh())
