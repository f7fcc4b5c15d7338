"""models.cpc: the patch grid cuts the right pixels, the masked context never looks down,
too-small inputs fail with one line before compiling."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxpretrain.models import cpc


class _PatchMean(nn.Module):
    """Stands in for the ResNet: [N, P, P, C] -> [N, C] mean pixel, so z names its patch."""

    def __call__(self, patches):
        return jnp.mean(patches, axis=(1, 2))


def test_patch_grid_cuts_overlapping_patches():
    images = np.random.default_rng(0).normal(size=(2, 12, 16, 3)).astype(np.float32)
    encoder = cpc.PatchEncoder(resnet=_PatchMean(), patch_size=4, patch_stride=2)
    z = encoder.apply({}, jnp.asarray(images))
    assert z.shape == (2, 5, 7, 3)  # (12 - 4) / 2 + 1 rows, (16 - 4) / 2 + 1 columns.
    for r in range(5):
        for s in range(7):
            want = images[:, 2 * r : 2 * r + 4, 2 * s : 2 * s + 4].mean(axis=(1, 2))
            np.testing.assert_allclose(z[:, r, s], want, rtol=1e-5, atol=1e-6)
    pooled = encoder.clone(pooled=True).apply({}, jnp.asarray(images))
    np.testing.assert_allclose(pooled, np.asarray(z).mean(axis=(1, 2)), rtol=1e-5, atol=1e-6)


def test_masked_context_sees_only_rows_above():
    context = cpc.MaskedContext(features=8, num_layers=3, kernel=3)
    z = jax.random.normal(jax.random.PRNGKey(0), (2, 7, 7, 5))
    params = context.init(jax.random.PRNGKey(1), z)
    apply = jax.jit(context.apply)
    c = np.asarray(apply(params, z))
    for row in (0, 3, 6):  # Perturb one input row: only that row and the rows below may change.
        moved = np.asarray(apply(params, z.at[:, row].add(1.0)))
        np.testing.assert_array_equal(moved[:, :row], c[:, :row])
        assert (np.abs(moved[:, row:] - c[:, row:]).max(axis=(0, 2, 3)) > 0).all()


def test_too_small_inputs_fail_before_compiling():
    encoder = cpc.PatchEncoder(resnet=_PatchMean(), patch_size=8, patch_stride=4)
    with pytest.raises(ValueError, match="smaller than one 8x8 patch"):
        jax.eval_shape(lambda x: encoder.apply({}, x), jnp.zeros((1, 6, 32, 1)))
    backbone = cpc.SequenceBackbone(features=4, kernels=(2,), strides=(2,), context_features=4)
    model = cpc.CPCSequence(backbone=backbone, offsets=5)
    with pytest.raises(ValueError, match="too short for the largest offset K = 5"):
        jax.eval_shape(model.init, jax.random.PRNGKey(0), jnp.zeros((2, 10, 1)))
    vision = cpc.CPCVision(backbone=encoder, context=cpc.MaskedContext(features=4), offsets=7)
    with pytest.raises(ValueError, match="a patch grid of 7 steps is too short"):
        jax.eval_shape(vision.init, jax.random.PRNGKey(0), jnp.zeros((2, 32, 32, 1)))
