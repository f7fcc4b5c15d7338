"""The RDA's modules: shapes, the σ floor, the class prior, conditioning, the μ backbone."""

import jax
import jax.numpy as jnp
import numpy as np

from jaxpretrain import models


def _rda(num_classes=0, learned_prior=False, image=False):
    """A tiny RDA: convolutional (for shapes only: slow to compile) or dense."""
    fields = {"backbone": "rda_dense_encoder", "features": (5,), "latent": 3}
    decoder = models.DenseDecoder((5,))
    if image:
        fields = {"backbone": "rda_encoder", "features": (4, 8), "num_groups": 2, "latent": 3}
        decoder = models.ImageDecoder((4, 8), 2)
    encoder = models.backbone(fields, pooled=False)
    return models.RDA(encoder, decoder, num_classes, learned_prior)


def test_image_channel_shapes():
    y, label, noise = jnp.ones((2, 8, 8, 3)), jnp.array([1, 4]), jnp.zeros((2, 3))
    rda = _rda(num_classes=5, image=True)
    params = jax.eval_shape(rda.init, jax.random.key(0), y, label, noise)["params"]
    out = jax.eval_shape(rda.apply, {"params": params}, y, label, noise)
    assert out.mean.shape == out.log_scale.shape == out.z.shape == (2, 3)
    assert out.reconstruction.shape == y.shape
    # The decoder's projection reads [z, onehot(x)]: 3 latents + 5 classes.
    assert params["decoder"]["project"]["kernel"].shape == (3 + 5, 2 * 2 * 8)


def test_channel_and_the_prior_per_class():
    y = jnp.ones((2, 8, 3))
    label, noise = jnp.array([1, 4]), jnp.zeros((2, 3))
    rda = _rda(num_classes=5)
    params = jax.jit(rda.init)(jax.random.key(0), y, label, noise)["params"]
    assert set(params) == {"encoder", "decoder", "prior"}
    assert params["prior"]["table"]["embedding"].shape == (5, 6)  # K x (μ_p, ln σ_p).
    out = jax.jit(rda.apply)({"params": params}, y, label, noise)
    assert out.reconstruction.shape == y.shape
    np.testing.assert_array_equal(out.z, out.mean)  # ε = 0: the channel passes μ.
    # The prior starts at N(0, I); each class has its own row, read by the label.
    np.testing.assert_array_equal(out.prior_mean, 0.0)
    table = params["prior"]["table"]["embedding"].at[4, 0].set(2.0)
    params = {**params, "prior": {"table": {"embedding": table}}}
    out = jax.jit(rda.apply)({"params": params}, y, label, noise)
    np.testing.assert_array_equal(out.prior_mean[:, 0], [0.0, 2.0])
    # The decoder reads the class: another label, another reconstruction of the same z.
    other = jax.jit(rda.apply)({"params": params}, y, jnp.array([2, 4]), noise)
    assert not np.allclose(other.reconstruction[0], out.reconstruction[0])
    np.testing.assert_allclose(other.reconstruction[1], out.reconstruction[1], rtol=1e-6)


def test_standard_and_learned_unconditional_priors():
    y, noise = jnp.ones((2, 8, 8, 1)), jnp.ones((2, 3))
    standard = _rda(image=True)
    params = jax.eval_shape(standard.init, jax.random.key(0), y, None, noise)["params"]
    out = jax.eval_shape(standard.apply, {"params": params}, y, None, noise)
    assert "prior" not in params and out.prior_mean is None
    learned = _rda(learned_prior=True, image=True)
    params = jax.eval_shape(learned.init, jax.random.key(0), y, None, noise)["params"]
    assert params["prior"]["table"]["embedding"].shape == (1, 6)
    sample = lambda p, n: learned.apply(p, None, n, (8, 8, 1), method="sample")  # noqa: E731
    assert jax.eval_shape(sample, {"params": params}, noise).shape == (2, 8, 8, 1)


def test_sigma_floor_and_the_pooled_backbone_is_mu():
    fields = {"backbone": "rda_dense_encoder", "features": (), "latent": 2, "min_scale": 0.05}
    encoder = models.backbone(fields, pooled=False)
    y = jnp.array([[1e4, -1e4, 3.0], [0.0, 0.0, 0.0]])
    params = encoder.init(jax.random.key(0), y)["params"]
    assert set(params) == {"mean", "scale"}  # A trunk without widths: a linear encoder.
    mean, log_scale = encoder.apply({"params": params}, y)
    assert np.all(np.exp(log_scale) >= 0.05 * (1 - 1e-6)) and np.all(np.isfinite(log_scale))
    pooled = models.backbone(fields)  # The same parameters; the features are μ.
    np.testing.assert_array_equal(pooled.apply({"params": params}, y), mean)


def test_conditional_discriminators_append_the_class():
    image = models.ConditionalDiscriminator(models.Discriminator((4, 8), 2), num_classes=3)
    y, label = jnp.zeros((2, 8, 8, 1)), jnp.array([0, 2])
    params = jax.eval_shape(image.init, jax.random.key(0), y, label)["params"]
    assert params["body"]["convs"]["conv1"]["kernel"].shape == (4, 4, 1 + 3, 4)
    assert jax.eval_shape(image.apply, {"params": params}, y, label).shape == (2,)
    dense = models.ConditionalDiscriminator(models.DenseDiscriminator((5,)))  # Unconditional.
    params = jax.eval_shape(dense.init, jax.random.key(0), jnp.zeros((2, 40, 1)))["params"]
    assert params["body"]["dense1"]["kernel"].shape == (40, 5)
    x = models.rda.with_class(jnp.zeros((2, 4)), label, 3)
    np.testing.assert_array_equal(x[:, 4:], [[1, 0, 0], [0, 0, 1]])
