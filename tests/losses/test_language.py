"""Tests for jaxpretrain.losses.language (next-token cross-entropy) against plain NumPy."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxpretrain.losses import next_token


def test_matches_numpy():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(2, 5, 7)) * 3
    targets = rng.integers(0, 7, size=(2, 5))
    x = logits - logits.max(-1, keepdims=True)
    log_p = x - np.log(np.exp(x).sum(-1, keepdims=True))
    expected = -np.take_along_axis(log_p, targets[..., None], -1)[..., 0]
    got = next_token(jnp.asarray(logits, jnp.float32), jnp.asarray(targets))
    assert got.shape == (2, 5)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_uniform_logits_give_log_vocab():
    got = next_token(jnp.zeros((3, 4, 11)), jnp.zeros((3, 4), jnp.int32))
    np.testing.assert_allclose(got, np.full((3, 4), np.log(11)), rtol=1e-6)


def test_where_zeroes_loss_and_gradient():
    logits = jnp.ones((2, 3, 5)).at[1, 2].set(jnp.nan)
    targets = jnp.array([[0, 1, 2], [3, 4, -1]])
    where = jnp.array([[True, True, True], [True, True, False]])
    assert float(next_token(logits, targets, where=where)[1, 2]) == 0.0
    grad = jax.grad(lambda z: next_token(z, targets, where=where).sum())(logits)
    assert np.isfinite(np.asarray(grad)).all() and not np.asarray(grad[1, 2]).any()


def test_shape_mismatch_is_a_clear_error():
    with pytest.raises(ValueError, match=r"tokens\[..., 1:\]"):
        next_token(jnp.zeros((2, 4, 5)), jnp.zeros((2, 5), jnp.int32))  # Unshifted tokens.
    with pytest.raises(ValueError, match=r"\[..., T, V\]"):
        next_token(jnp.zeros((5,)), jnp.zeros((), jnp.int32))
