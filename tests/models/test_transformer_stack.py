"""The configurable Transformer layer and stack: a BERT-style encoder (post-LN, erf GELU, ε 1e-12,
N(0, 0.02²), padding masks), pre- vs post-LN, activations by name, initialisers, names, the cache
of a pre-LN decoder with cross-attention, and clear errors."""

import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxpretrain.models import (
    ACTIVATIONS,
    KernelInits,
    LayerConfig,
    LayerNames,
    TransformerLayer,
    TransformerStack,
    padding_mask,
)

B, T, S, D, H, F = 2, 6, 5, 16, 2, 32


def _bert_layer(**overrides) -> LayerConfig:
    fields = dict(
        num_heads=H,
        hidden=F,
        norm_placement="post",
        activation="gelu",
        layer_norm_epsilon=1e-12,
        kernel_init=KernelInits.normal(0.02),
    )
    return LayerConfig(**{**fields, **overrides})


def _x(seed=0, shape=(B, T, D)):
    return jax.random.normal(jax.random.key(seed), shape)


def _init(module, *args, **kwargs):
    return nn.unbox(module.init(jax.random.key(1), *args, deterministic=True, **kwargs))["params"]


def _random_params(params, seed=2):
    """Every leaf random (LayerNorm scales and biases too), so nothing hides behind init values."""
    leaves, tree = jax.tree_util.tree_flatten(params)
    keys = jax.random.split(jax.random.key(seed), len(leaves))
    return tree.unflatten([0.3 * jax.random.normal(k, x.shape) for k, x in zip(keys, leaves)])


def test_bert_style_encoder_stack_shapes_init_and_normalised_rows():
    stack = TransformerStack(num_layers=2, layer=_bert_layer())
    x, valid = _x(), jnp.arange(T)[None] < jnp.array([[T], [3]])  # [B, T]
    params = _init(stack, x, mask=padding_mask(valid))
    assert set(params) == {"layer_0", "layer_1"}
    assert set(params["layer_0"]) == {"self_attn", "ln_1", "ffn", "ln_2"}
    assert params["layer_0"]["self_attn"]["query"]["kernel"].shape == (H, D // H, D)
    assert params["layer_1"]["ffn"]["fc"]["kernel"].shape == (D, F)
    assert 0.015 < np.std(params["layer_0"]["ffn"]["proj"]["kernel"]) < 0.025  # N(0, 0.02²)

    y = stack.apply({"params": params}, x, mask=padding_mask(valid), deterministic=True)
    assert y.shape == (B, T, D) and y.dtype == jnp.float32
    # Post-LN: each row leaves LN_2 with mean 0 and variance 1 (the affine is the identity at
    # init; ε = 1e-12 is negligible).
    np.testing.assert_allclose(np.mean(y, -1), 0.0, atol=1e-5)
    np.testing.assert_allclose(np.var(y, -1), 1.0, rtol=1e-4)


def test_padding_keys_do_not_change_real_rows():
    """Masked equals sliced: the real rows of a padded sequence are the rows of the sequence cut
    to its real length, whatever the padding holds."""
    stack = TransformerStack(num_layers=2, layer=_bert_layer())
    params = _random_params(_init(stack, _x()))
    apply = jax.jit(lambda x, m: stack.apply({"params": params}, x, mask=m, deterministic=True))
    x, n = _x(3), 4
    valid = jnp.broadcast_to(jnp.arange(T) < n, (B, T))
    padded = apply(x, padding_mask(valid))
    other = apply(x.at[:, n:].set(_x(4)[:, n:]), padding_mask(valid))
    np.testing.assert_allclose(padded[:, :n], apply(x[:, :n], None), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(other[:, :n], padded[:, :n], rtol=1e-5, atol=1e-5)


def test_pre_and_post_layer_norm_are_different_functions_of_the_same_params():
    post, pre = _bert_layer(), _bert_layer(norm_placement="pre")
    params = _random_params(_init(TransformerLayer(post), _x()))
    x = _x(5)
    y_post = TransformerLayer(post).apply({"params": params}, x, deterministic=True)
    y_pre = TransformerLayer(pre).apply({"params": params}, x, deterministic=True)
    assert not np.allclose(y_post, y_pre, atol=1e-3)
    # Pre-LN: x + F(LN(x)) with LN's affine set to the identity and F's output projections zeroed
    # is x itself; post-LN normalises it.
    quiet = jax.tree_util.tree_map_with_path(
        lambda path, p: jnp.zeros_like(p) if "out" in str(path) or "proj" in str(path) else p,
        params,
    )
    np.testing.assert_allclose(
        TransformerLayer(pre).apply({"params": quiet}, x, deterministic=True), x, atol=1e-6
    )


def test_final_norm_of_a_pre_ln_stack():
    stack = TransformerStack(2, _bert_layer(norm_placement="pre"), final_norm="ln_f")
    x = _x()
    params = _init(stack, x)
    assert set(params) == {"layer_0", "layer_1", "ln_f"}
    y = stack.apply({"params": params}, x, deterministic=True)
    np.testing.assert_allclose(np.var(y, -1), 1.0, rtol=1e-4)
    bare = stack.clone(final_norm=None).apply({"params": params}, x, deterministic=True)
    assert not np.allclose(np.var(bare, -1), 1.0, rtol=0.05)


def test_activation_names_map_to_their_formulas():
    u = jnp.linspace(-4.0, 4.0, 81)
    np.testing.assert_array_equal(ACTIVATIONS["relu"](u), np.maximum(u, 0.0))
    erf = np.vectorize(math.erf)
    np.testing.assert_allclose(
        ACTIVATIONS["gelu"](u), u * 0.5 * (1 + erf(u / np.sqrt(2))), rtol=1e-5, atol=1e-6
    )
    tanh = 0.5 * u * (1 + np.tanh(np.sqrt(2 / np.pi) * (u + 0.044715 * u**3)))
    np.testing.assert_allclose(ACTIVATIONS["gelu_tanh"](u), tanh, rtol=1e-5, atol=1e-6)
    assert not np.array_equal(ACTIVATIONS["gelu"](u), ACTIVATIONS["gelu_tanh"](u))
    # The layer uses the named one: same params, another activation, another output.
    params = _random_params(_init(TransformerLayer(_bert_layer()), _x()))
    outputs = [
        TransformerLayer(_bert_layer(activation=name)).apply(
            {"params": params}, _x(6), deterministic=True
        )
        for name in ACTIVATIONS
    ]
    assert not np.allclose(outputs[0], outputs[1]) and not np.allclose(outputs[1], outputs[2])


def test_gpt2_residual_init_scale_and_names():
    layers = 6
    config = _bert_layer(
        kernel_init=KernelInits.normal(0.02, residual_layers=layers),
        names=LayerNames(self_attention="attn", mlp="mlp"),
    )
    params = _init(TransformerLayer(config), _x(shape=(1, 4, 64)))
    assert set(params) == {"attn", "ln_1", "mlp", "ln_2"}
    scaled = 0.02 / math.sqrt(2 * layers)
    for kernel, std in (
        (params["attn"]["query"]["kernel"], 0.02),
        (params["mlp"]["fc"]["kernel"], 0.02),
        (params["attn"]["out"]["kernel"], scaled),
        (params["mlp"]["proj"]["kernel"], scaled),
    ):
        assert np.std(kernel) == pytest.approx(std, rel=0.1)


def test_pre_ln_decoder_with_cross_attention_decodes_through_its_cache():
    """A pre-LN decoder stack (causal self-attention, cross-attention to ``encoded``): a prefix
    then one position at a time through the cache gives the outputs of one causal pass."""
    stack = TransformerStack(2, _bert_layer(norm_placement="pre"), final_norm="ln_f")
    x, encoded = _x(7), _x(8, (B, S, D))
    cross = padding_mask(jnp.ones((B, T), bool), jnp.arange(S)[None] < jnp.array([[S], [2]]))
    variables = stack.init(jax.random.key(1), x, encoded, deterministic=True, decode=True)
    params = _random_params(nn.unbox(variables["params"]))
    assert set(params["layer_0"]) == {"self_attn", "ln_1", "cross_attn", "ln_2", "ffn", "ln_3"}
    run = dict(causal=True, deterministic=True)
    want = stack.apply({"params": params}, x, encoded, cross_mask=cross, **run)
    cache, outputs = variables["cache"], []
    for start, stop in ((0, 3), (3, 4), (4, 5), (5, 6)):
        y, state = stack.apply(
            {"params": params, "cache": cache},
            x[:, start:stop],
            encoded,
            cross_mask=cross[:, :, start:stop],
            decode=True,
            mutable=["cache"],
            **run,
        )
        cache = state["cache"]
        outputs.append(y)
    np.testing.assert_allclose(jnp.concatenate(outputs, 1), want, rtol=1e-5, atol=1e-5)


def test_bad_configs_raise_clear_errors():
    with pytest.raises(ValueError, match="unknown activation 'swish'; choose one of relu, gelu"):
        _bert_layer(activation="swish")
    with pytest.raises(ValueError, match="unknown norm_placement 'middle'"):
        _bert_layer(norm_placement="middle")
    with pytest.raises(ValueError, match="unknown attention implementation 'flash'"):
        _bert_layer(attention="flash")
    with pytest.raises(ValueError, match=r"dropout_rate must be in \[0, 1\)"):
        _bert_layer(dropout_rate=1.0)
    with pytest.raises(ValueError, match="num_heads and hidden must be positive"):
        _bert_layer(num_heads=0)
    with pytest.raises(ValueError, match="width 15 is not divisible by num_heads 2"):
        _init(TransformerLayer(_bert_layer()), _x(shape=(1, 3, 15)))
    with pytest.raises(ValueError, match="num_layers must be positive"):
        _init(TransformerStack(0, _bert_layer()), _x())
