"""Tests for jaxpretrain.models.resnet (tiny widths; big presets via eval_shape)."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxpretrain.losses import softmax_cross_entropy
from jaxpretrain.models import BasicBlock, BottleneckBlock, Classifier, ResNet, num_params, resnet


def _out_shape(model, x_shape):
    """Output shape of init+apply, traced only (no compilation)."""
    x = jax.ShapeDtypeStruct(x_shape, jnp.float32)
    return jax.eval_shape(lambda x: model.apply(model.init(jax.random.key(0), x), x), x).shape


@pytest.mark.parametrize(
    "block,stem,hw,out_d",
    [
        ("basic", "small", 8, 16),  # 8·2
        ("basic", "imagenet", 32, 16),
        ("bottleneck", "small", 8, 64),  # 8·2·4
        ("bottleneck", "imagenet", 32, 64),
    ],
)
def test_output_shapes(block, stem, hw, out_d):
    model = ResNet(stage_sizes=(1, 1), width=8, block=block, stem=stem, num_groups=4)
    assert _out_shape(model, (2, hw, hw, 3)) == (2, out_d)
    assert model.num_features == out_d


def test_forward_is_finite_and_stages_downsample():
    model = resnet("resnet_tiny", stem="imagenet")
    x = jax.random.normal(jax.random.key(1), (2, 33, 33, 3))  # odd size
    variables = model.init(jax.random.key(0), x)
    _, inter = model.apply(variables, x, capture_intermediates=True)
    out = inter["intermediates"]
    # 33 -7x7/2 conv-> 17 -3x3/2 pool-> 9 (stage 1) -3x3/2 conv-> 5 (stage 2)
    assert out["stage1_block1"]["__call__"][0].shape == (2, 9, 9, 8)
    assert out["stage2_block1"]["__call__"][0].shape == (2, 5, 5, 16)
    assert np.all(np.isfinite(out["__call__"][0]))


def test_classifier_params_tree_and_embed():
    model = Classifier(resnet("resnet_tiny"), num_classes=10)
    x = jnp.ones((2, 8, 8, 1))
    variables = model.init(jax.random.key(0), x)
    assert set(variables) == {"params"}  # no batch_stats: GroupNorm only
    params = variables["params"]
    assert set(params) == {"backbone", "head"}
    assert set(params["head"]) == {"kernel", "bias"}
    logits = model.apply(variables, x)
    assert logits.shape == (2, 10) and logits.dtype == jnp.float32
    np.testing.assert_array_equal(logits, 0.0)  # zero-init head
    feats = model.apply(variables, x, method=Classifier.embed)
    assert feats.shape == (2, 16)
    np.testing.assert_allclose(logits, feats @ params["head"]["kernel"] + params["head"]["bias"])


def test_bfloat16_compute_keeps_float32_params_and_logits():
    model = Classifier(resnet("resnet_tiny", dtype=jnp.bfloat16), 5, head_zero_init=False)
    x = jnp.ones((2, 8, 8, 1))
    variables = model.init(jax.random.key(0), x)
    dtypes = {l.dtype for l in jax.tree_util.tree_leaves(variables)}
    assert dtypes == {jnp.dtype(jnp.float32)}
    assert model.apply(variables, x).dtype == jnp.float32


# Published torchvision counts (1000-class head): resnet18 11,689,512;
# resnet50 25,557,032. GroupNorm's scale+bias equal BatchNorm's weight+bias,
# and BatchNorm's running stats are buffers, not parameters.
@pytest.mark.parametrize("variant,expected", [("resnet18", 11_689_512), ("resnet50", 25_557_032)])
def test_preset_param_counts(variant, expected):
    model = Classifier(resnet(variant), num_classes=1000)
    # Spatial size does not change the count (global pooling), so keep it small.
    shapes = jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1, 32, 32, 3)))
    count = num_params(shapes["params"])
    assert abs(count - expected) / expected < 0.01
    assert count == expected  # layouts match torchvision exactly


def test_num_params_counts_real_arrays():
    assert num_params({"a": jnp.zeros((2, 3)), "b": [jnp.zeros(4)]}) == 10


@pytest.mark.parametrize("block_cls,in_ch", [(BasicBlock, 8), (BottleneckBlock, 32)])
def test_identity_block_starts_as_relu(block_cls, in_ch):
    block = block_cls(features=8, strides=1, num_groups=4)
    x = jax.random.normal(jax.random.key(2), (2, 6, 6, in_ch))
    variables = block.init(jax.random.key(3), x)
    assert "proj_conv" not in variables["params"]
    np.testing.assert_array_equal(block.apply(variables, x), jax.nn.relu(x))


def test_projection_block_changes_shape():
    block = BasicBlock(features=16, strides=2, num_groups=4)
    x = jnp.ones((2, 8, 8, 8))
    variables = block.init(jax.random.key(0), x)
    assert "proj_conv" in variables["params"]
    assert block.apply(variables, x).shape == (2, 4, 4, 16)


def test_invalid_configs_raise():
    x = jnp.ones((1, 8, 8, 3))
    init = lambda m, x=x: m.init(jax.random.key(0), x)
    with pytest.raises(ValueError, match="divisible"):
        init(ResNet(stage_sizes=(1,), width=12, num_groups=8, stem="small"))
    with pytest.raises(ValueError, match="block"):
        init(ResNet(stage_sizes=(1,), width=8, block="wide", num_groups=4))
    with pytest.raises(ValueError, match="stem"):
        init(ResNet(stage_sizes=(1,), width=8, stem="cifar", num_groups=4))
    with pytest.raises(ValueError, match="stage_sizes"):
        init(ResNet(stage_sizes=(), width=8, num_groups=4))
    with pytest.raises(ValueError, match=r"\[B, H, W, C\].*\(8, 8, 3\)"):
        init(resnet("resnet_tiny"), jnp.ones((8, 8, 3)))
    with pytest.raises(ValueError, match="floating"):
        init(resnet("resnet_tiny"), jnp.ones((1, 8, 8, 3), jnp.uint8))
    with pytest.raises(ValueError, match="resnet18.*resnet_tiny"):
        resnet("resnet9000")


def test_overfits_random_labels():
    rng = np.random.default_rng(0)
    images = jnp.asarray(rng.normal(size=(16, 8, 8, 1)), jnp.float32)
    labels = jnp.asarray(rng.integers(0, 10, size=16))
    model = Classifier(resnet("resnet_tiny"), num_classes=10)
    params = model.init(jax.random.key(0), images)["params"]
    tx = optax.adam(1e-2)
    opt_state = tx.init(params)

    @jax.jit
    def step(params, opt_state):
        def loss_fn(p):
            logits = model.apply({"params": p}, images)
            return softmax_cross_entropy(logits, labels).mean(), logits

        (loss, logits), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
        updates, opt_state = tx.update(grads, opt_state, params)
        acc = jnp.mean(jnp.argmax(logits, -1) == labels)
        return optax.apply_updates(params, updates), opt_state, loss, acc

    first_loss = None
    for _ in range(200):
        params, opt_state, loss, acc = step(params, opt_state)
        first_loss = loss if first_loss is None else first_loss
        if acc == 1.0:
            break
    np.testing.assert_allclose(first_loss, np.log(10), rtol=1e-5)  # zero head
    assert acc == 1.0, f"train accuracy {acc} after 200 steps, loss {loss}"
