"""The entropy-model cross-entropies of co-training against NumPy, masks, stability, bad input."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxpretrain import losses

# One compiled program per call signature: far fewer compilations than op-by-op dispatch.
cross_entropy = jax.jit(losses.cross_entropy_entropy)
code_entropy = jax.jit(losses.code_entropy)


def _softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def test_cross_entropy_matches_numpy_for_marginal_and_conditional_models():
    rng = np.random.default_rng(0)
    q = _softmax(rng.normal(size=(3, 5, 4)))  # [B, T, K] soft codes
    marginal = rng.normal(size=(4,))  # [K], broadcast to every example
    conditional = rng.normal(size=(3, 5, 4))
    for logits in (marginal, conditional):
        want = -np.sum(q * np.log(_softmax(np.broadcast_to(logits, q.shape))), -1)
        got = cross_entropy(jnp.asarray(q), jnp.asarray(logits))
        assert got.shape == (3, 5)
        np.testing.assert_allclose(got, want, rtol=1e-5)


def test_uniform_model_gives_ln_k_and_the_true_model_the_entropy():
    q = jnp.asarray([[0.5, 0.25, 0.25, 0.0]])
    np.testing.assert_allclose(cross_entropy(q, jnp.zeros(4)), [math.log(4)])
    # P_Ψ = q: the cross-entropy is H(q), the bound's minimum, finite despite q(k) = 0 = P(k).
    exact = cross_entropy(q, jnp.log(q))
    np.testing.assert_allclose(exact, [1.5 * math.log(2)], rtol=1e-6)
    np.testing.assert_allclose(code_entropy(jnp.log(q)), exact, rtol=1e-6)


def test_code_entropy_matches_numpy_and_spans_zero_to_ln_k():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(6, 5)) * 3
    p = _softmax(logits)
    np.testing.assert_allclose(
        code_entropy(jnp.asarray(logits)), -np.sum(p * np.log(p), -1), rtol=1e-5
    )
    np.testing.assert_allclose(code_entropy(jnp.zeros((2, 5))), [math.log(5)] * 2)
    np.testing.assert_allclose(code_entropy(jnp.array([[1e4, 0.0, 0.0]])), [0.0], atol=1e-6)


def test_where_zeroes_masked_rows_and_their_gradients_even_with_nan():
    q = jnp.array([[0.2, 0.8], [jnp.nan, jnp.nan], [1.0, 0.0]])
    logits = jnp.array([[0.0, 1.0], [jnp.nan, 2.0], [3.0, -1.0]])
    where = jnp.array([True, False, True])

    def total(q, logits):
        return jnp.sum(cross_entropy(q, logits, where=where)) + jnp.sum(
            code_entropy(logits, where=where)
        )

    values = cross_entropy(q, logits, where=where)
    assert values[1] == 0.0 and np.all(np.isfinite(values))
    np.testing.assert_allclose(values[::2], cross_entropy(q[::2], logits[::2]))
    grads = jax.jit(jax.grad(total, argnums=(0, 1)))(q, logits)
    for g in grads:
        assert np.all(np.isfinite(g)) and np.all(g[1] == 0.0)


def test_large_and_bfloat16_logits_are_stable():
    q = jnp.array([[0.0, 1.0]])
    got = cross_entropy(q, jnp.array([[1e4, 1e4 - 2.0]], jnp.float32))
    assert got.dtype == jnp.float32
    np.testing.assert_allclose(got, [2.0 + math.log1p(math.exp(-2.0))], rtol=1e-5)
    half = cross_entropy(q, jnp.array([[100.0, 98.0]], jnp.bfloat16))
    assert half.dtype == jnp.float32  # Promoted before the log-softmax.
    np.testing.assert_allclose(half, got, rtol=1e-5)


@pytest.mark.parametrize(
    "q, logits, where, match",
    [
        (np.ones((3, 1)), np.zeros((3, 1)), None, "K >= 2 codes"),
        (np.full((3, 2), 0.5), np.zeros((3, 3)), None, "number of codes K"),
        (np.full((3, 2), 0.5), np.zeros((4, 2)), None, "do not broadcast"),
        (np.full((3, 2), 0.5), np.zeros(2), np.ones(2, bool), "where must be bool"),
        (np.ones((3, 2), np.int32), np.zeros(2), None, "must be floating"),
    ],
)
def test_bad_input_is_a_clear_error(q, logits, where, match):
    with pytest.raises(ValueError, match=match):
        losses.cross_entropy_entropy(q, logits, where=where)
