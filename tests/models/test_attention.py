"""Tests for jaxpretrain.models.attention against a plain numpy version of the lecture's equations."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxpretrain.models import MultiHeadAttention, causal_mask, combine_masks, padding_mask

B, T, S, D, DC, H, K = 2, 5, 4, 6, 3, 2, 4


def _reference(params, x, context=None, mask=None):
    """The lecture's equations with loops over (b, h, t, t′); float64; α = 0 on empty rows.

    Query[h,t,k] = Σ_j W_Q[h,k,j] M[t,j] + b_Q[h,k]; s = Query·Key / √K; α = softmax over allowed
    t′; V[h,t,i] = Σ_t′ α Value[h,t′,i]; M'[t, J] = concat_h V[h,t,:] (J = h·K + i); out = M' W_O.
    """
    p = jax.tree_util.tree_map(lambda a: np.asarray(a, np.float64), params)
    x = np.asarray(x, np.float64)
    context = x if context is None else np.asarray(context, np.float64)
    b_, t_, s_ = x.shape[0], x.shape[1], context.shape[1]
    h_, k_ = p["query"]["kernel"].shape[:2]
    allowed = np.ones((b_, h_, t_, s_), bool)
    if mask is not None:
        allowed = np.broadcast_to(np.asarray(mask), allowed.shape)
    w_out = p["out"]["kernel"].reshape(h_ * k_, -1)  # [H·K, D_out], row J = h·K + i
    out = np.zeros((b_, t_, w_out.shape[1]))
    alpha = np.zeros((b_, h_, t_, s_))
    for b in range(b_):
        concat = np.zeros((t_, h_ * k_))  # M[ℓ+1, t, J]
        for h in range(h_):
            q = np.einsum("kj,tj->tk", p["query"]["kernel"][h], x[b]) + p["query"]["bias"][h]
            k = np.einsum("kj,tj->tk", p["key"]["kernel"][h], context[b]) + p["key"]["bias"][h]
            v = np.einsum("ij,tj->ti", p["value"]["kernel"][h], context[b]) + p["value"]["bias"][h]
            for t in range(t_):
                keys = np.flatnonzero(allowed[b, h, t])
                if keys.size == 0:
                    continue  # α row stays 0, so V[h, t] = 0
                s = np.array([q[t] @ k[u] for u in keys]) / np.sqrt(k_)
                e = np.exp(s - s.max())
                alpha[b, h, t, keys] = e / e.sum()
                concat[t, h * k_ : (h + 1) * k_] = alpha[b, h, t] @ v
        out[b] = concat @ w_out + p["out"]["bias"]
    return out, alpha


def _init(model, x, **kwargs):
    """Unboxed params, every leaf random (so biases are tested too)."""
    params = nn.unbox(model.init(jax.random.key(0), x, **kwargs))["params"]
    leaves, tree = jax.tree_util.tree_flatten(params)
    keys = jax.random.split(jax.random.key(1), len(leaves))
    leaves = [0.5 * jax.random.normal(k, l.shape) for k, l in zip(keys, leaves)]
    return jax.tree_util.tree_unflatten(tree, leaves)


def _inputs():
    kx, kc = jax.random.split(jax.random.key(2))
    return jax.random.normal(kx, (B, T, D)), jax.random.normal(kc, (B, S, DC))


_Q_VALID = np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]], bool)  # [B, T]
_K_VALID = np.array([[1, 1, 1, 0], [1, 0, 0, 0]], bool)  # [B, S]


def test_param_names_shapes_and_logical_axes():
    x, c = _inputs()
    model = MultiHeadAttention(num_heads=H, head_dim=K, out_features=7)
    variables = model.init(jax.random.key(0), x, context=c)
    shapes = jax.tree_util.tree_map(jnp.shape, nn.unbox(variables))["params"]
    assert shapes == {
        "query": {"kernel": (H, K, D), "bias": (H, K)},  # W_Q[h, k, j]
        "key": {"kernel": (H, K, DC), "bias": (H, K)},
        "value": {"kernel": (H, K, DC), "bias": (H, K)},
        "out": {"kernel": (H, K, 7), "bias": (7,)},
    }
    boxed = variables["params"]
    assert isinstance(boxed["query"]["kernel"], nn.LogicallyPartitioned)
    assert boxed["query"]["kernel"].names == ("heads", "kv", "embed")
    specs = nn.get_partition_spec(variables)["params"]
    assert tuple(specs["key"]["bias"]) == ("heads", "kv")
    assert tuple(specs["out"]["kernel"]) == ("heads", "kv", "embed")
    assert tuple(specs["out"]["bias"]) == ("embed",)
    # The default init is GPT-2's N(0, 0.02²); biases start at 0.
    kernel = np.asarray(nn.unbox(boxed["query"]["kernel"]))
    assert 0.01 < kernel.std() < 0.03 and not np.any(nn.unbox(boxed["out"]["bias"]))


def test_no_bias_and_default_width():
    x, _ = _inputs()
    params = nn.unbox(MultiHeadAttention(H, K, use_bias=False).init(jax.random.key(0), x))
    assert all(set(p) == {"kernel"} for p in params["params"].values())
    assert params["params"]["out"]["kernel"].shape == (H, K, D)


@pytest.mark.parametrize("masking", ["none", "causal", "padding", "causal+padding"])
def test_self_attention_matches_numpy(masking):
    x, _ = _inputs()
    masks = {
        "none": None,
        "causal": causal_mask(T),
        "padding": padding_mask(_Q_VALID),
        "causal+padding": combine_masks(causal_mask(T), padding_mask(_Q_VALID)),
    }
    mask = masks[masking]
    model = MultiHeadAttention(num_heads=H, head_dim=K)
    params = _init(model, x)
    out, alpha = model.apply({"params": params}, x, mask=mask, return_weights=True)
    want_out, want_alpha = _reference(params, x, mask=mask)
    assert out.shape == (B, T, D) and alpha.shape == (B, H, T, T)
    np.testing.assert_allclose(alpha, want_alpha, atol=1e-6)
    np.testing.assert_allclose(out, want_out, rtol=1e-5, atol=1e-5)


def test_cross_attention_matches_numpy():
    x, c = _inputs()
    mask = padding_mask(_Q_VALID, _K_VALID)  # batch 1: query rows 3, 4 have no allowed key
    model = MultiHeadAttention(num_heads=H, head_dim=K, out_features=5)
    params = _init(model, x, context=c)
    out, alpha = model.apply({"params": params}, x, context=c, mask=mask, return_weights=True)
    want_out, want_alpha = _reference(params, x, c, mask)
    assert out.shape == (B, T, 5) and alpha.shape == (B, H, T, S)
    np.testing.assert_allclose(alpha, want_alpha, atol=1e-6)
    np.testing.assert_allclose(out, want_out, rtol=1e-5, atol=1e-5)
    # Keys of a per-head mask [B, H, T, S] may differ between heads.
    head_mask = jnp.broadcast_to(mask, (B, H, T, S)).at[:, 1, :, 0].set(False)
    out, alpha = model.apply({"params": params}, x, context=c, mask=head_mask, return_weights=True)
    want_out, want_alpha = _reference(params, x, c, head_mask)
    np.testing.assert_allclose(alpha, want_alpha, atol=1e-6)
    np.testing.assert_allclose(out, want_out, rtol=1e-5, atol=1e-5)


def test_weights_rows_sum_to_one_or_zero():
    x, c = _inputs()
    mask = combine_masks(padding_mask(_Q_VALID, _K_VALID), None)
    model = MultiHeadAttention(num_heads=H, head_dim=K)
    params = _init(model, x, context=c)
    _, alpha = model.apply({"params": params}, x, context=c, mask=mask, return_weights=True)
    assert alpha.dtype == jnp.float32
    any_allowed = np.broadcast_to(np.any(mask, -1), (B, H, T))
    np.testing.assert_allclose(np.sum(alpha, -1), any_allowed.astype(np.float32), atol=1e-6)
    assert np.all(np.asarray(alpha)[~np.broadcast_to(mask, alpha.shape)] == 0.0)


def test_fully_masked_rows_give_out_bias_and_finite_grads():
    x, _ = _inputs()
    mask = jnp.zeros((B, 1, T, T), bool).at[0, :, :2, :].set(True)  # only b=0, t<2 attend
    model = MultiHeadAttention(num_heads=H, head_dim=K)
    params = _init(model, x)
    out = model.apply({"params": params}, x, mask=mask)
    bias = np.broadcast_to(params["out"]["bias"], (B, T, D))
    np.testing.assert_array_equal(out[0, 2:], bias[0, 2:])  # exactly, not approximately
    np.testing.assert_array_equal(out[1], bias[1])
    assert not np.allclose(out[0, :2], bias[0, :2])

    def loss(params, x):
        return jnp.sum(model.apply({"params": params}, x, mask=mask) ** 2)

    grads = jax.grad(loss, argnums=(0, 1))(params, x)
    assert all(np.all(np.isfinite(g)) for g in jax.tree_util.tree_leaves(grads))
    np.testing.assert_array_equal(grads[1][1], 0.0)  # nothing in batch 1 reaches the output


def test_causal_output_ignores_the_future():
    x, _ = _inputs()
    model = MultiHeadAttention(num_heads=H, head_dim=K)
    params = _init(model, x)
    apply = jax.jit(lambda x: model.apply({"params": params}, x, mask=causal_mask(T)))
    t = 2
    changed = x.at[:, t + 1 :].add(jax.random.normal(jax.random.key(3), (B, T - t - 1, D)))
    out, out_changed = apply(x), apply(changed)
    np.testing.assert_allclose(out[:, : t + 1], out_changed[:, : t + 1], rtol=1e-6, atol=1e-6)
    assert not np.allclose(out[:, t + 1 :], out_changed[:, t + 1 :])


def test_jit_matches_eager_and_bfloat16_keeps_float32_params():
    x, _ = _inputs()
    model = MultiHeadAttention(num_heads=H, head_dim=K)
    variables = model.init(jax.random.key(0), x)  # boxed params: apply accepts them
    eager = model.apply(variables, x, mask=causal_mask(T))
    jitted = jax.jit(lambda v, x: model.apply(v, x, mask=causal_mask(T)))(variables, x)
    np.testing.assert_allclose(eager, jitted, rtol=1e-5, atol=1e-6)

    bf16 = MultiHeadAttention(num_heads=H, head_dim=K, dtype=jnp.bfloat16)
    variables = nn.unbox(bf16.init(jax.random.key(0), x))
    assert {l.dtype for l in jax.tree_util.tree_leaves(variables)} == {jnp.dtype(jnp.float32)}
    out, alpha = bf16.apply(variables, x, return_weights=True)
    assert out.dtype == jnp.bfloat16 and alpha.dtype == jnp.float32


def test_invalid_inputs_raise():
    x, c = _inputs()
    model = MultiHeadAttention(num_heads=H, head_dim=K)
    init = lambda *a, **kw: model.init(jax.random.key(0), *a, **kw)
    with pytest.raises(ValueError, match=r"\[B, T, D\].*\(5, 6\)"):
        init(x[0])
    with pytest.raises(ValueError, match="context.*rank 2"):
        init(x, context=c[0])
    with pytest.raises(ValueError, match="batch size"):
        init(x, context=c[:1])
    with pytest.raises(ValueError, match="floating"):
        init(jnp.ones((B, T), jnp.int32)[..., None])
    with pytest.raises(ValueError, match="boolean"):
        init(x, mask=jnp.zeros((1, 1, T, T)))
    with pytest.raises(ValueError, match=r"\[B\|1, H\|1, T, S\]"):
        init(x, mask=causal_mask(T + 1))
    with pytest.raises(ValueError, match=r"\[B\|1, H\|1, T, S\]"):
        init(x, mask=jnp.ones((B, 3, T, T), bool))  # 3 heads, not H = 2
    with pytest.raises(ValueError, match="positive"):
        MultiHeadAttention(num_heads=0, head_dim=K).init(jax.random.key(0), x)


def test_fused_qkv_layout_maps_by_reshape_and_transpose():
    """A GPT-2-style fused c_attn [D, 3D] (x @ W, columns h·K + k) and c_proj [H·K, D] map to
    [H, K, D] by reshape + transpose; checked against the split-heads computation on them."""
    h, k = 2, 3
    d = h * k
    rng = np.random.default_rng(0)
    c_attn_w, c_attn_b = rng.normal(size=(d, 3 * d)), rng.normal(size=(3 * d,))
    c_proj_w, c_proj_b = rng.normal(size=(d, d)), rng.normal(size=(d,))
    x = rng.normal(size=(1, 4, d))

    # The fused computation: split q, k, v, then view [B, T, H, K] -> [B, H, T, K].
    qkv = x @ c_attn_w + c_attn_b  # [B, T, 3D]
    q, kk, v = (a.reshape(1, 4, h, k).transpose(0, 2, 1, 3) for a in np.split(qkv, 3, -1))
    s = q @ kk.transpose(0, 1, 3, 2) / np.sqrt(k) + np.where(np.tril(np.ones((4, 4))), 0, -1e9)
    a = np.exp(s - s.max(-1, keepdims=True))
    a /= a.sum(-1, keepdims=True)
    want = (a @ v).transpose(0, 2, 1, 3).reshape(1, 4, d) @ c_proj_w + c_proj_b

    w_q, w_k, w_v = np.split(c_attn_w, 3, axis=1)  # each [D, H·K]
    b_q, b_k, b_v = np.split(c_attn_b, 3)
    to_hkd = lambda w: w.reshape(d, h, k).transpose(1, 2, 0)  # [D, H·K] -> W[h, k, j]
    params = {
        "query": {"kernel": to_hkd(w_q), "bias": b_q.reshape(h, k)},
        "key": {"kernel": to_hkd(w_k), "bias": b_k.reshape(h, k)},
        "value": {"kernel": to_hkd(w_v), "bias": b_v.reshape(h, k)},
        "out": {"kernel": c_proj_w.reshape(h, k, d), "bias": c_proj_b},
    }
    params = jax.tree_util.tree_map(lambda p: jnp.asarray(p, jnp.float32), params)
    got = MultiHeadAttention(h, k).apply(
        {"params": params}, jnp.asarray(x, jnp.float32), mask=causal_mask(4)
    )
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("masking", ["none", "causal", "causal+padding", "cross+padding"])
def test_xla_implementation_matches_the_equations_and_their_gradients(masking):
    x, c = _inputs()
    context = c if masking.startswith("cross") else None
    mask = padding_mask(_Q_VALID, _K_VALID if context is not None else None)  # Empty rows too.
    mask = None if masking in ("none", "causal") else mask
    causal = masking.startswith("causal")
    model = MultiHeadAttention(num_heads=H, head_dim=K)
    fused = MultiHeadAttention(num_heads=H, head_dim=K, implementation="xla")
    params = _init(model, x, context=context)
    full_mask = combine_masks(causal_mask(T) if causal else None, mask)
    want_out, _ = _reference(params, x, context, full_mask)

    def loss(m, params, x):
        out = m.apply({"params": params}, x, context=context, mask=mask, causal=causal)
        return jnp.sum(jnp.sin(out)), out

    (_, out), grads = jax.value_and_grad(lambda *a: loss(fused, *a), (0, 1), has_aux=True)(
        params, x
    )
    _, want_grads = jax.value_and_grad(lambda *a: loss(model, *a), (0, 1), has_aux=True)(params, x)
    np.testing.assert_allclose(out, want_out, rtol=1e-5, atol=1e-5)
    for got, want in zip(jax.tree_util.tree_leaves(grads), jax.tree_util.tree_leaves(want_grads)):
        assert np.all(np.isfinite(got))
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_causal_flag_equals_the_causal_mask():
    x, _ = _inputs()
    model = MultiHeadAttention(num_heads=H, head_dim=K)
    params = _init(model, x)
    mask = padding_mask(_Q_VALID)
    with_flag = model.apply({"params": params}, x, mask=mask, causal=True)
    with_mask = model.apply({"params": params}, x, mask=combine_masks(causal_mask(T), mask))
    np.testing.assert_array_equal(with_flag, with_mask)


def test_implementation_errors_name_the_fix():
    x, c = _inputs()
    params = _init(MultiHeadAttention(num_heads=H, head_dim=K), x)
    with pytest.raises(ValueError, match="unknown attention implementation 'flash'"):
        MultiHeadAttention(num_heads=H, head_dim=K, implementation="flash").apply(
            {"params": params}, x
        )
    with pytest.raises(ValueError, match="return_weights needs implementation='einsum'"):
        MultiHeadAttention(num_heads=H, head_dim=K, implementation="xla").apply(
            {"params": params}, x, return_weights=True
        )
    with pytest.raises(ValueError, match=r"needs dtype bfloat16 or float16 \(got float32\);.*"
                       r"even sequence lengths \(got T 5, S 5\): change that, or use"):  # fmt: skip
        MultiHeadAttention(num_heads=H, head_dim=K, implementation="cudnn").apply(
            {"params": params}, x
        )
    cross = _init(MultiHeadAttention(num_heads=H, head_dim=K), x, context=c)
    with pytest.raises(ValueError, match="causal=True are for self-attention only"):
        MultiHeadAttention(num_heads=H, head_dim=K).apply(
            {"params": cross}, x, context=c, causal=True
        )
