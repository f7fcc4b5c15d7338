"""Tests for jaxpretrain.losses.classification against plain float64 NumPy."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxpretrain.losses import (
    khot_softmax_cross_entropy,
    multilabel_sigmoid,
    soft_target_cross_entropy,
    softmax_cross_entropy,
)

B, T, V = 4, 3, 7
TOL = dict(rtol=1e-5, atol=1e-4)  # float32 losses of logits up to ±100


# Plain references in float64, where exp(100) ~ 3e43 fits: naive formulas are
# exact enough, and independent of the log-sum-exp code under test.
def ref_log_softmax(x):
    x = np.asarray(x, np.float64)
    return x - np.log(np.sum(np.exp(x), axis=-1, keepdims=True))


def ref_softmax_ce(x, y, eps=0.0):
    v = x.shape[-1]
    t = (1 - eps) * np.eye(v)[y] + eps / v
    return -np.sum(t * ref_log_softmax(x), axis=-1)


def ref_soft_ce(x, t):
    return -np.sum(t * ref_log_softmax(x), axis=-1)


def ref_multilabel(x, y):
    x = np.asarray(x, np.float64)
    # -log σ(x) = log(1 + e^-x); logaddexp because float64 σ(100) rounds to 1.
    return np.sum(y * np.logaddexp(0, -x) + (1 - y) * np.logaddexp(0, x), -1)


def ref_khot(x, y):
    k = y.sum(-1, keepdims=True)
    return ref_soft_ce(x, y / np.maximum(k, 1))


def random_inputs(seed=0, shape=(B, T)):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=shape + (V,)) * 5
    logits[0, 0] = 100.0 * rng.choice([-1, 1], size=V)  # overflows naive f32 exp
    logits[1, 0, :2] = [100.0, -100.0]
    labels = rng.integers(0, V, size=shape)
    probs = rng.dirichlet(np.ones(V), size=shape)
    khot = rng.random(shape + (V,)) < 0.3
    khot[0, 1] = False  # a k = 0 row
    return logits.astype(np.float32), labels, probs.astype(np.float32), khot


# Each loss as (fn, its targets from random_inputs, reference).
LOSSES = {
    "softmax_ce": (softmax_cross_entropy, lambda i: i[1], ref_softmax_ce),
    "soft_ce": (soft_target_cross_entropy, lambda i: i[2], ref_soft_ce),
    "multilabel": (multilabel_sigmoid, lambda i: i[3].astype(np.float32), ref_multilabel),
    "khot": (khot_softmax_cross_entropy, lambda i: i[3].astype(np.float32), ref_khot),
}


@pytest.mark.parametrize("name", LOSSES)
def test_matches_reference(name):
    fn, targets, ref = LOSSES[name]
    inputs = random_inputs()
    out = jax.jit(fn)(inputs[0], targets(inputs))
    assert out.shape == (B, T) and out.dtype == jnp.float32
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out, ref(inputs[0], targets(inputs)), **TOL)


def test_label_smoothing_matches_reference_and_zero_is_plain():
    x, y, _, _ = random_inputs(1)
    np.testing.assert_allclose(
        softmax_cross_entropy(x, y, label_smoothing=0.1), ref_softmax_ce(x, y, 0.1), **TOL
    )
    np.testing.assert_array_equal(
        softmax_cross_entropy(x, y, label_smoothing=0.0), softmax_cross_entropy(x, y)
    )
    # A traced ε takes the general path; at ε = 0 it must still agree.
    traced = jax.jit(lambda e: softmax_cross_entropy(x, y, label_smoothing=e))
    np.testing.assert_allclose(traced(0.0), softmax_cross_entropy(x, y), rtol=1e-6)


def test_closed_forms():
    zeros = jnp.zeros((B, V))
    labels = jnp.arange(B) % V
    np.testing.assert_allclose(softmax_cross_entropy(zeros, labels), np.log(V), rtol=1e-6)
    np.testing.assert_allclose(
        softmax_cross_entropy(zeros, labels, label_smoothing=0.3), np.log(V), rtol=1e-6
    )
    khot = np.zeros((B, V), bool)
    khot[np.arange(B), np.arange(B)] = True
    khot[:, -1] = True  # k = 2 in every row
    np.testing.assert_allclose(multilabel_sigmoid(zeros, khot), V * np.log(2), rtol=1e-6)
    np.testing.assert_allclose(khot_softmax_cross_entropy(zeros, khot), np.log(V), rtol=1e-6)
    # Confident and right: loss -> 0 without underflow to NaN.
    big = jnp.full((1, V), -100.0).at[0, 2].set(100.0)
    np.testing.assert_allclose(softmax_cross_entropy(big, jnp.array([2])), 0.0, atol=1e-6)


def test_soft_target_with_onehot_equals_hard_labels():
    x, y, _, _ = random_inputs(2)
    np.testing.assert_allclose(
        soft_target_cross_entropy(x, np.eye(V)[y]), softmax_cross_entropy(x, y), **TOL
    )


def test_soft_target_ignores_excluded_classes():
    x = jnp.array([[0.0, 0.0, -jnp.inf]])
    t = jnp.array([[0.5, 0.5, 0.0]])
    np.testing.assert_allclose(soft_target_cross_entropy(x, t), np.log(2), rtol=1e-6)


def test_bool_and_float_targets_agree():
    x, _, _, khot = random_inputs(3)
    for fn in (multilabel_sigmoid, khot_softmax_cross_entropy):
        np.testing.assert_array_equal(fn(x, khot), fn(x, khot.astype(np.float32)))


def test_khot_zero_rows_are_zero():
    x, _, _, khot = random_inputs(4)
    out = khot_softmax_cross_entropy(x, khot)
    assert out[0, 1] == 0.0
    assert np.all(out[khot.sum(-1) > 0] > 0)


def test_softmax_ce_gradient_is_softmax_minus_onehot():
    x, y, _, _ = random_inputs(5)
    g = jax.grad(lambda l: softmax_cross_entropy(l, y).sum())(x)
    np.testing.assert_allclose(g, np.exp(ref_log_softmax(x)) - np.eye(V)[y], atol=1e-6)


@pytest.mark.parametrize("name", LOSSES)
def test_masked_equals_sliced(name):
    fn, targets, _ = LOSSES[name]
    x, y, p, khot = random_inputs(6)
    where = np.random.default_rng(6).random((B, T)) < 0.5
    where[0, 0] = True
    where[1, 1] = where[2, 2] = where[3, 0] = False
    full = fn(x, targets((x, y, p, khot)))
    # Masked rows hold garbage a caller might pad with: the masked result must
    # not see it, in the value or in the gradient.
    x_bad = x.copy()
    x_bad[1, 1] = np.inf
    x_bad[2, 2] = np.nan
    x_bad[3, 0] = -np.inf
    t_bad = np.array(targets((x, y, p, khot)))
    if name == "softmax_ce":
        t_bad[1, 1] = -1
    else:
        t_bad[2, 2] = np.nan
    loss = lambda l: fn(l, t_bad, where=where)
    out = loss(x_bad)
    np.testing.assert_array_equal(out[where], full[where])
    assert np.all(out[~where] == 0.0)
    grads = jax.grad(lambda l: loss(l).sum())(x_bad)
    assert np.all(np.isfinite(grads))
    assert np.all(grads[~where] == 0.0)
    full_grads = jax.grad(lambda l: fn(l, targets((x, y, p, khot))).sum())(x)
    np.testing.assert_allclose(grads[where], full_grads[where], atol=1e-6)


@pytest.mark.parametrize("name", LOSSES)
def test_vmap_consistency(name):
    fn, targets, _ = LOSSES[name]
    inputs = random_inputs(7)
    x, t = inputs[0], targets(inputs)
    where = np.arange(B * T).reshape(B, T) % 3 != 0
    batched = fn(x, t, where=where)
    mapped = jax.vmap(lambda a, b, w: fn(a, b, where=w))(x, t, where)
    np.testing.assert_allclose(mapped, batched, rtol=1e-6, atol=1e-6)


def test_low_precision_logits_give_float32_loss():
    x, y, _, _ = random_inputs(8)
    out = softmax_cross_entropy(jnp.asarray(x, jnp.bfloat16), y)
    assert out.dtype == jnp.float32
    np.testing.assert_allclose(
        out, ref_softmax_ce(np.asarray(jnp.asarray(x, jnp.bfloat16), np.float64), y), **TOL
    )


def test_invalid_inputs_raise():
    x = jnp.zeros((B, V))
    with pytest.raises(ValueError, match=r"\(3,\).*\(4, 7\)"):
        softmax_cross_entropy(x, jnp.zeros((3,), int))
    with pytest.raises(ValueError, match="integer"):
        softmax_cross_entropy(x, jnp.zeros((B,)))
    with pytest.raises(ValueError, match="floating"):
        softmax_cross_entropy(jnp.zeros((B, V), int), jnp.zeros((B,), int))
    with pytest.raises(ValueError, match="label_smoothing"):
        softmax_cross_entropy(x, jnp.zeros((B,), int), label_smoothing=1.5)
    with pytest.raises(ValueError, match=r"shape \(4,\), got bool\[4, 1\]"):
        softmax_cross_entropy(x, jnp.zeros((B,), int), where=jnp.ones((B, 1), bool))
    with pytest.raises(ValueError, match="boolean"):
        softmax_cross_entropy(x, jnp.zeros((B,), int), where=jnp.ones((B,)))
    with pytest.raises(ValueError, match="class axis"):
        softmax_cross_entropy(jnp.zeros(()), jnp.zeros((), int))
    for fn in (soft_target_cross_entropy, multilabel_sigmoid, khot_softmax_cross_entropy):
        with pytest.raises(ValueError, match=r"\(4, 6\).*\(4, 7\)"):
            fn(x, jnp.zeros((B, V - 1)))
        with pytest.raises(ValueError, match="where"):
            fn(x, jnp.zeros((B, V)), where=jnp.ones((B, V), bool))
