"""Tests for jaxpretrain.losses.language (next-token, masked-LM and next-sentence cross-entropy)
against plain NumPy."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxpretrain.losses import masked_lm, next_sentence, next_token


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


def _numpy_ce(logits, targets):
    x = logits - logits.max(-1, keepdims=True)
    log_p = x - np.log(np.exp(x).sum(-1, keepdims=True))
    return -np.take_along_axis(log_p, targets[..., None], -1)[..., 0]


def test_masked_lm_matches_numpy_and_where_zeroes_loss_and_gradient():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(2, 4, 9)) * 3
    targets = rng.integers(0, 9, size=(2, 4))
    where = np.array([[True, True, False, True], [True, False, False, False]])
    got = masked_lm(jnp.asarray(logits, jnp.float32), jnp.asarray(targets), where=where)
    assert got.shape == (2, 4)
    np.testing.assert_allclose(got, np.where(where, _numpy_ce(logits, targets), 0.0), atol=1e-5)
    # Padded predictions may hold anything: NaN logits, -1 targets.
    bad = jnp.asarray(logits, jnp.float32).at[1, 3].set(jnp.nan)
    bad_targets = jnp.asarray(targets).at[1, 3].set(-1)
    grad = jax.grad(lambda z: masked_lm(z, bad_targets, where=where).sum())(bad)
    assert np.isfinite(np.asarray(grad)).all() and not np.asarray(grad)[~where].any()
    # google-research/bert's reduction Σ w·ℓ / (Σ w + 1e-5) on top.
    loss = masked_lm(bad, bad_targets, where=where)
    mean = float(jnp.sum(loss) / (jnp.sum(where) + 1e-5))
    assert np.isclose(mean, _numpy_ce(logits, targets)[where].sum() / (where.sum() + 1e-5))


def test_next_sentence_matches_numpy_and_masks():
    rng = np.random.default_rng(2)
    logits = rng.normal(size=(5, 2)) * 2
    labels = rng.integers(0, 2, size=(5,))
    got = next_sentence(jnp.asarray(logits, jnp.float32), jnp.asarray(labels))
    assert got.shape == (5,)
    np.testing.assert_allclose(got, _numpy_ce(logits, labels), atol=1e-5)
    # Two-class CE is the logistic loss log(1 + e^{z_other - z_label}).
    other = np.take_along_axis(logits, 1 - labels[:, None], -1)[:, 0]
    mine = np.take_along_axis(logits, labels[:, None], -1)[:, 0]
    np.testing.assert_allclose(got, np.log1p(np.exp(other - mine)), atol=1e-5)
    where = np.array([True, False, True, False, True])
    masked = next_sentence(jnp.asarray(logits, jnp.float32), jnp.asarray(labels), where=where)
    np.testing.assert_allclose(masked, np.where(where, _numpy_ce(logits, labels), 0.0), atol=1e-5)
    grad = jax.grad(lambda z: next_sentence(z, labels, where=where).sum())(jnp.asarray(logits))
    assert not np.asarray(grad)[~where].any() and np.asarray(grad)[where].any()


def test_bert_loss_shape_errors_are_clear():
    with pytest.raises(ValueError, match=r"masked_lm: targets shape \(2, 3\) must equal"):
        masked_lm(jnp.zeros((2, 4, 5)), jnp.zeros((2, 3), jnp.int32))
    with pytest.raises(ValueError, match=r"masked_lm: logits must be \[..., P, V\]"):
        masked_lm(jnp.zeros((5,)), jnp.zeros((), jnp.int32))
    with pytest.raises(ValueError, match=r"next_sentence: logits must be \[..., 2\]"):
        next_sentence(jnp.zeros((4, 3)), jnp.zeros((4,), jnp.int32))
    with pytest.raises(ValueError, match=r"next_sentence: labels shape \(3,\) must equal"):
        next_sentence(jnp.zeros((4, 2)), jnp.zeros((3,), jnp.int32))
