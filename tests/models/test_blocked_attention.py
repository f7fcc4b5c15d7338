"""Blocked (flash-style) attention against the einsum equations: values and gradients, causal,
padding and fully masked rows, blocks that do not divide T, and bf16."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxpretrain.models import MultiHeadAttention
from jaxpretrain.models.attention_kernels import einsum_attention
from jaxpretrain.models.blocked_attention import block_size, blocked_attention
from jaxpretrain.models.masks import causal_mask, combine_masks, padding_mask


def _inputs(b, h, t, k, seed=0):
    rng = np.random.default_rng(seed)
    return [jnp.asarray(rng.standard_normal((b, h, t, k)), jnp.float32) for _ in range(4)]


def _padding(b, t, seed=1):
    valid = np.random.default_rng(seed).random((b, t)) > 0.3
    valid[0] = False  # A row with no allowed key at all.
    return padding_mask(jnp.asarray(valid))


@pytest.mark.parametrize(
    "t, block, key_block, causal, padded",
    [
        (37, 8, 8, True, False),  # The last block is partial.
        (37, 8, 8, False, True),
        (40, 16, 8, True, True),  # Query and key blocks of different sizes.
        (64, 64, 64, True, False),  # One block.
        (19, 8, 64, False, False),  # One key block spanning every key.
    ],
)
def test_blocked_attention_gives_the_einsum_heads_and_gradients(
    t, block, key_block, causal, padded
):
    query, key, value, d_out = _inputs(2, 3, t, 8)
    mask = _padding(2, t) if padded else None
    full = combine_masks(causal_mask(t) if causal else None, mask)

    def reference(q, k, v):
        return einsum_attention(q, k, v, full, jnp.float32)[0]

    def blocked(q, k, v):
        return blocked_attention(q, k, v, mask, causal, block, key_block)

    want, want_vjp = jax.vjp(reference, query, key, value)
    got, got_vjp = jax.vjp(jax.jit(blocked), query, key, value)
    np.testing.assert_allclose(got, want, atol=2e-6)
    for g, w in zip(got_vjp(d_out), want_vjp(d_out)):
        assert np.all(np.isfinite(g))
        np.testing.assert_allclose(g, w, atol=5e-6)
    if padded:  # Rows with no allowed key: output 0, and no gradient reaches their query.
        np.testing.assert_array_equal(got[0], 0.0)
        np.testing.assert_array_equal(got_vjp(d_out)[0][0], 0.0)


def test_blocked_attention_in_bfloat16_stays_near_float32():
    query, key, value, _ = _inputs(1, 2, 48, 16)
    want = blocked_attention(query, key, value, None, True, 16, 16)
    got = blocked_attention(
        *(x.astype(jnp.bfloat16) for x in (query, key, value)), None, True, 16, 16
    )
    assert got.dtype == jnp.bfloat16
    np.testing.assert_allclose(got.astype(jnp.float32), want, atol=5e-2)


def test_long_sequences_get_larger_blocks():
    assert block_size(256) == 64
    assert block_size(4096) == 256  # At most MAX_BLOCKS = 16 per axis.


def test_the_blocked_layer_matches_the_einsum_layer():
    x = jnp.asarray(np.random.default_rng(2).standard_normal((2, 24, 32)), jnp.float32)
    layers = {
        name: MultiHeadAttention(num_heads=4, head_dim=8, implementation=name)
        for name in ("einsum", "blocked")
    }
    params = layers["einsum"].init(jax.random.PRNGKey(0), x, causal=True)

    def loss(name, params):
        return jnp.sum(layers[name].apply(params, x, causal=True) ** 2)

    want, want_grads = jax.value_and_grad(lambda p: loss("einsum", p))(params)
    got, grads = jax.value_and_grad(lambda p: loss("blocked", p))(params)
    np.testing.assert_allclose(got, want, rtol=1e-5)
    for g, w in zip(jax.tree_util.tree_leaves(grads), jax.tree_util.tree_leaves(want_grads)):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-6)
