"""Tests for jaxpretrain.losses.cbow_negative_sampling against the formula evaluated in NumPy."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxpretrain.losses import cbow_negative_sampling


def _reference(target, context, negatives):
    """ℓ = ln(1 + e^{−s(w,c)}) + Σ_n ln(1 + e^{s(n,c)}), s(w,c) = (1/|c|) Σ_{w′∈c} e(w)ᵀ e′(w′),
    one example at a time, straight from the formula (float64)."""
    s = lambda w, c: np.mean([w @ x for x in c])  # noqa: E731
    return np.log1p(np.exp(-s(target, context))) + sum(
        np.log1p(np.exp(s(n, context))) for n in negatives
    )


def test_matches_the_formula_in_numpy():
    rng = np.random.default_rng(0)
    B, C, K, D = 6, 4, 5, 8
    e_target = rng.normal(size=(B, D))  # e(w)
    e_context = rng.normal(size=(B, C, D))  # e′(w′) of the context words
    e_negative = rng.normal(size=(B, K, D))  # e(n)
    expected = [_reference(e_target[b], e_context[b], e_negative[b]) for b in range(B)]
    h = e_context.mean(1)  # [B, D]
    target_scores = np.einsum("bd,bd->b", e_target, h)
    negative_scores = np.einsum("bkd,bd->bk", e_negative, h)
    got = cbow_negative_sampling(
        jnp.asarray(target_scores, jnp.float32), jnp.asarray(negative_scores, jnp.float32)
    )
    assert got.shape == (B,)
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_zero_scores_give_k_plus_one_log_two():
    got = cbow_negative_sampling(jnp.zeros(3), jnp.zeros((3, 5)))
    np.testing.assert_allclose(got, np.full(3, 6 * np.log(2)), rtol=1e-6)


def test_is_stable_for_large_scores():
    big = jnp.array([1e4, -1e4])
    got = cbow_negative_sampling(big, jnp.stack([-big, big], axis=1))
    np.testing.assert_allclose(got, [1e4, 2e4], rtol=1e-6)  # softplus(x) ≈ x for x ≫ 0.
    grad = jax.grad(lambda t: cbow_negative_sampling(t, jnp.zeros((2, 1))).sum())(big)
    np.testing.assert_allclose(grad, [0.0, -1.0], atol=1e-6)


def test_gradient_is_sigmoid():
    """∂ℓ/∂s(w) = σ(s(w)) − 1 and ∂ℓ/∂s(n) = σ(s(n)): word2vec's update (1 − label − σ)."""
    t, n = jnp.array([0.3, -1.2]), jnp.array([[0.5, -2.0], [1.0, 0.0]])
    gt, gn = jax.grad(lambda t, n: cbow_negative_sampling(t, n).sum(), argnums=(0, 1))(t, n)
    np.testing.assert_allclose(gt, jax.nn.sigmoid(t) - 1, rtol=1e-6)
    np.testing.assert_allclose(gn, jax.nn.sigmoid(n), rtol=1e-6)


def test_where_equals_slicing_and_blocks_nan():
    rng = np.random.default_rng(1)
    t, n = jnp.asarray(rng.normal(size=4)), jnp.asarray(rng.normal(size=(4, 3)))
    where = jnp.array([True, False, True, False])
    t_bad = t.at[1].set(jnp.nan)
    got = cbow_negative_sampling(t_bad, n, where=where)
    np.testing.assert_allclose(got[::2], cbow_negative_sampling(t[::2], n[::2]), rtol=1e-6)
    assert float(got[1]) == 0.0 and float(got[3]) == 0.0
    grad = jax.grad(lambda t: cbow_negative_sampling(t, n, where=where).sum())(t_bad)
    assert np.isfinite(np.asarray(grad)).all() and float(grad[1]) == 0.0


def test_shape_mismatch_is_a_clear_error():
    with pytest.raises(ValueError, match=r"\[B, K\]"):
        cbow_negative_sampling(jnp.zeros(3), jnp.zeros((4, 5)))
