"""Context encoder, its discriminator and the colorizer: shapes, the channel-wise FC, bad input."""

import flax.linen as nn
import jax
import numpy as np
import pytest

from jaxpretrain import models


def test_channelwise_fc_is_one_dense_layer_per_channel_then_a_1x1_mix():
    x = np.random.default_rng(0).normal(size=(2, 3, 4, 5)).astype(np.float32)  # [B, h, w, D]
    layer = models.ChannelwiseFC()
    params = jax.jit(layer.init)(jax.random.PRNGKey(0), x)["params"]
    kernel, bias = np.asarray(params["kernel"]), np.asarray(params["bias"])
    assert kernel.shape == (5, 12, 12) and bias.shape == (5, 12)  # D·(hw)², not (D·hw)²
    flat = x.reshape(2, 12, 5)
    y = np.stack([flat[:, :, d] @ kernel[d] + bias[d] for d in range(5)], -1)  # [B, hw, D]
    y = np.where(y > 0, y, 0.2 * y).reshape(2, 3, 4, 5)
    mixed = y @ np.asarray(params["mix"]["kernel"])[0, 0] + np.asarray(params["mix"]["bias"])
    expected = np.where(mixed > 0, mixed, 0.2 * mixed)
    out = jax.jit(layer.apply)({"params": params}, x)
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-5)


def test_shapes_of_generator_discriminator_colorizer_and_pooled_encoder():
    # Shapes only: eval_shape traces the modules without computing anything.
    key, images = jax.random.PRNGKey(0), jax.ShapeDtypeStruct((2, 16, 16, 3), np.float32)
    generator = models.ContextEncoder(features=(8, 16), channels=3, num_groups=4)
    out, variables = jax.eval_shape(generator.init_with_output, key, images)
    params = variables["params"]
    assert set(params) == {"encoder", "bottleneck", "decoder"} and out.shape == (2, 16, 16, 3)
    discriminator = models.Discriminator(features=(8, 16), num_groups=4)
    assert jax.eval_shape(discriminator.init_with_output, key, images)[0].shape == (2,)
    colorizer = models.Colorizer(features=(8, 16), out_channels=7, num_groups=4)
    lightness = jax.ShapeDtypeStruct((2, 16, 16, 1), np.float32)
    assert jax.eval_shape(colorizer.init_with_output, key, lightness)[0].shape == (2, 16, 16, 7)
    # The classifier's backbone has exactly the generator's encoder parameters.
    classifier = models.Classifier(models.ConvEncoder((8, 16), 4, pool=True), num_classes=5)
    backbone = jax.eval_shape(classifier.init, key, images)["params"]["backbone"]
    shapes = lambda tree: jax.tree.map(np.shape, tree)  # noqa: E731
    assert shapes(backbone) == shapes(params["encoder"])


@pytest.mark.parametrize(
    "module, images, match",
    [
        (models.ConvEncoder((8, 16, 32), 4), np.zeros((1, 12, 12, 3)), "divisible by 2\\^3"),
        (models.ContextEncoder((8, 16), 3, 4), np.zeros((1, 16, 16, 1)), "channels"),
        (models.Colorizer((8, 16), 2, 4), np.zeros((1, 16, 16, 3)), "lightness"),
        (models.ConvEncoder((8, 12), 8), np.zeros((1, 16, 16, 3)), "divisible by the group"),
    ],
)
def test_bad_input_is_a_one_line_error(module: nn.Module, images, match):
    with pytest.raises(ValueError, match=match) as error:
        jax.eval_shape(module.init, jax.random.PRNGKey(0), np.asarray(images, np.float32))
    assert "\n" not in str(error.value)
