"""masked_l2, gan_discriminator and gan_generator against float64 NumPy and closed forms."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxpretrain import losses

TOL = dict(rtol=1e-5, atol=1e-6)


def ref_masked_l2(pred, target, mask):
    pred, target = np.asarray(pred, np.float64), np.asarray(target, np.float64)
    mask = np.broadcast_to(np.asarray(mask, np.float64), pred.shape)
    out = []
    for p, t, m in zip(pred, target, mask):
        out.append(np.sum(m * (p - t) ** 2) / m.sum() if m.sum() else 0.0)
    return np.array(out)


def ref_log_sigmoid(z):
    return -np.logaddexp(0.0, -np.asarray(z, np.float64))


def images(seed=0, shape=(3, 6, 5, 2)):
    rng = np.random.default_rng(seed)
    return rng.normal(size=shape).astype(np.float32), rng.normal(size=shape).astype(np.float32)


def test_masked_l2_matches_numpy_with_binary_and_weighted_masks():
    pred, target = images()
    rng = np.random.default_rng(1)
    binary = (rng.random((3, 6, 5, 1)) < 0.4).astype(np.float32)
    binary[2] = 0.0  # An example with nothing masked costs 0.
    weighted = binary * 10.0 + (rng.random((3, 6, 5, 1)) < 0.2)
    for mask in (binary, weighted):
        np.testing.assert_allclose(
            losses.masked_l2(pred, target, mask), ref_masked_l2(pred, target, mask), **TOL
        )
    assert float(losses.masked_l2(pred, target, binary)[2]) == 0.0
    np.testing.assert_allclose(
        losses.masked_l2(pred, target), np.mean((pred - target) ** 2, axis=(1, 2, 3)), **TOL
    )


def test_masked_l2_on_a_window_equals_the_mse_of_the_sliced_window():
    pred, target = images(2)
    mask = np.zeros((3, 6, 5, 1), np.float32)
    mask[:, 1:4, 2:5] = 1.0
    sliced = np.mean((pred[:, 1:4, 2:5] - target[:, 1:4, 2:5]) ** 2, axis=(1, 2, 3))
    np.testing.assert_allclose(losses.masked_l2(pred, target, mask), sliced, **TOL)


def test_masked_l2_gradient_is_the_analytic_one_and_zero_outside_the_mask():
    pred, target = images(3)
    mask = np.zeros((3, 6, 5, 1), np.float32)
    mask[:, :2] = 1.0
    grad = jax.grad(lambda p: jnp.sum(losses.masked_l2(p, target, mask)))(jnp.asarray(pred))
    count = mask.sum(axis=(1, 2, 3), keepdims=True) * pred.shape[-1]
    np.testing.assert_allclose(grad, 2 * mask * (pred - target) / count, **TOL)


def test_where_zeroes_examples_even_with_nan_inputs():
    pred, target = images(4)
    pred[1] = np.nan
    where = np.array([True, False, True])
    value, grad = jax.value_and_grad(lambda p: jnp.sum(losses.masked_l2(p, target, where=where)))(
        jnp.asarray(pred)
    )
    assert float(losses.masked_l2(pred, target, where=where)[1]) == 0.0
    assert np.isfinite(value) and np.all(np.isfinite(grad)) and np.all(grad[1] == 0)
    fake = np.array([0.3, np.nan, -2.0], np.float32)
    np.testing.assert_array_equal(losses.gan_generator(fake, where=where)[1], 0.0)
    grad = jax.grad(lambda f: jnp.sum(losses.gan_discriminator(f, f, where=where)))(fake)
    assert np.all(np.isfinite(grad)) and grad[1] == 0


def test_discriminator_at_one_half_costs_ln2_per_term():
    zero = np.zeros(4, np.float32)
    np.testing.assert_allclose(losses.gan_discriminator(zero, zero), 2 * np.log(2), rtol=1e-6)
    np.testing.assert_allclose(losses.gan_generator(zero), np.log(2), rtol=1e-6)


def test_gan_losses_match_numpy_and_stay_finite_for_large_logits():
    real = np.array([-200.0, -3.0, 0.5, 4.0, 200.0], np.float32)
    fake = np.array([150.0, 2.0, -0.5, -7.0, -300.0], np.float32)
    np.testing.assert_allclose(
        losses.gan_discriminator(real, fake),
        -ref_log_sigmoid(real) - ref_log_sigmoid(-fake),
        **TOL,
    )
    np.testing.assert_allclose(losses.gan_generator(fake), -ref_log_sigmoid(fake), **TOL)
    grad = jax.grad(lambda f: jnp.sum(losses.gan_generator(f)))(fake)
    # d/df softplus(-f) = -σ(-f): saturated fakes (f ≪ 0) still get a gradient of -1.
    np.testing.assert_allclose(grad, -1.0 / (1.0 + np.exp(fake.astype(np.float64))), **TOL)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: losses.masked_l2(np.zeros((2, 3)), np.zeros((2, 4))), "share one"),
        (lambda: losses.masked_l2(np.zeros((2, 3, 3, 1)), np.zeros((2, 3, 3, 1)), np.ones((2, 3))), "rank"),
        (lambda: losses.masked_l2(np.zeros((2, 3)), np.zeros((2, 3)), where=np.ones(2)), "boolean"),
        (lambda: losses.gan_discriminator(np.zeros(2), np.zeros(3)), "one shape"),
        (lambda: losses.gan_generator(np.zeros(2, np.int32)), "floating"),
    ],
)  # fmt: skip
def test_bad_inputs_are_one_line_errors(call, match):
    with pytest.raises(ValueError, match=match) as error:
        call()
    assert "\n" not in str(error.value)
