"""Blocked (flash-style) scaled dot-product attention: the heads of ``attention_kernels``'s
equations without ever holding α or the logits over [T, S] (Dao et al., "FlashAttention", 2022,
Algorithms 1 and 2; Milakov and Gimelshein, "Online normalizer calculation for softmax", 2018).

The queries are cut into blocks of rows Q_i and the keys and values into blocks K_j, V_j of
``block`` positions. For each query block, a loop over the key blocks keeps a running row maximum
m, a running sum ℓ and an unnormalised output A (the online softmax):

    S_ij = Q_i K_jᵀ / √K                                   logits of one block, [b_q, b_k]
    m'   = max(m, rowmax(S_ij))
    P_ij = exp(S_ij − m')                                  masked pairs: exp(−∞) = 0
    ℓ    = ℓ·exp(m − m') + rowsum(P_ij),   A = A·exp(m − m') + P_ij V_j,   m = m'
    O_i  = A / ℓ,   L_i = m + ln ℓ                         (L: the row's log-normaliser)

so that O_i = softmax(S_i) V exactly (up to rounding). With ``causal`` the loop visits only the
key blocks at or below the diagonal (t′ ≤ t), so about half of the products and exponentials of
the full [T, T] are never computed, and only the diagonal blocks are masked element by element.

The backward pass is our own (``jax.custom_vjp``): it keeps only Q, K, V, O and L (memory linear
in T) and recomputes each block's probabilities P_ij = exp(S_ij − L_i):

    D_i   = rowsum(dO_i ∘ O_i)
    dV_j += P_ijᵀ dO_i,   dP_ij = dO_i V_jᵀ,   dS_ij = P_ij ∘ (dP_ij − D_i)
    dQ_i += dS_ij K_j / √K,   dK_j += dS_ijᵀ Q_i / √K

Masks follow ``attention_kernels``: boolean [B|1, H|1, T, S], True where query t may attend to
key t′; a query with no allowed key gets output 0 and zero gradients (its ℓ is 0: O = 0, L = +∞,
so every recomputed P is 0). Logits, the softmax statistics and all accumulators are float32;
P is cast to the inputs' dtype for the products with V and dO, as ``einsum_attention`` does.

The blocks are a static (unrolled) loop: XLA sees every block product at compile time and
schedules them freely, and a block is small enough for the elementwise passes to stay in cache.
``block_size`` picks b; a longer sequence gets larger blocks so that there are at most
``MAX_BLOCKS`` per axis (compile time grows with the number of block pairs).
"""

from __future__ import annotations

import functools
import math
from typing import Any

import jax
import jax.numpy as jnp

Array = Any

DEFAULT_BLOCK = 64  # b: on XLA:CPU at T 256, K 64, 64 beat 32 and 128 (fwd + bwd, issue 17).
MAX_BLOCKS = 16  # Per axis; beyond it the blocks grow (module docstring).


def block_size(length: int, block: int = DEFAULT_BLOCK) -> int:
    """b for a sequence of ``length``: ``block``, or ⌈length / MAX_BLOCKS⌉ rounded up to a
    multiple of 8 if that is larger."""
    wanted = -(-length // MAX_BLOCKS)
    return max(block, -(-wanted // 8) * 8)


def _key_blocks(q_start: int, q_stop: int, keys: int, block: int, causal: bool):
    """[(k_start, k_stop, on_diagonal)] of the key blocks a query block [q_start, q_stop) reads:
    all of them, or with ``causal`` those holding some key t′ < q_stop; a block is
    ``on_diagonal`` when some of its keys lie after some of the block's queries."""
    stop = min(keys, q_stop) if causal else keys
    return [
        (k, min(stop, k + block), causal and min(stop, k + block) - 1 > q_start)
        for k in range(0, stop, block)
    ]


def _allowed(mask, causal_block: bool, q: tuple[int, int], k: tuple[int, int]):
    """bool [B|1, H|1, b_q, b_k] (or None: all allowed) of one block: the mask's block (an axis
    of size 1 broadcasts and is not sliced) and, on the diagonal, t′ ≤ t."""
    allowed = None
    if mask is not None:
        rows = slice(*q) if mask.shape[2] > 1 else slice(None)
        cols = slice(*k) if mask.shape[3] > 1 else slice(None)
        allowed = mask[:, :, rows, cols]
    if causal_block:
        below = jnp.arange(*q)[:, None] >= jnp.arange(*k)[None, :]  # [b_q, b_k]
        allowed = below if allowed is None else allowed & below
    return allowed


def _logits(query_block, key_block):
    """S = Q K_jᵀ (the query block already scaled by 1/√K), float32 [B, H, b_q, b_k]."""
    return jnp.einsum("bhtk,bhsk->bhts", query_block, key_block, preferred_element_type=jnp.float32)


def _forward(query, key, value, mask, causal: bool, block: int, key_block: int):
    """(O [B, H, T, K] in the inputs' dtype, L float32 [B, H, T, 1])."""
    t, s, head_dim = query.shape[2], key.shape[2], query.shape[3]
    scaled = query * jnp.asarray(1 / math.sqrt(head_dim), query.dtype)
    outputs, normalisers = [], []
    for q_start in range(0, t, block):
        q = (q_start, min(t, q_start + block))
        query_block = scaled[:, :, q[0] : q[1]]
        m = l = acc = None
        for k_start, k_stop, diagonal in _key_blocks(*q, s, key_block, causal):
            logits = _logits(query_block, key[:, :, k_start:k_stop])
            allowed = _allowed(mask, diagonal, q, (k_start, k_stop))
            if allowed is not None:
                logits = jnp.where(allowed, logits, -jnp.inf)
            block_max = jnp.max(logits, axis=-1, keepdims=True)
            m_new = block_max if m is None else jnp.maximum(m, block_max)
            if mask is not None:  # A row with no allowed key yet has m' = −∞: subtract 0.
                m_new = jnp.where(jnp.isneginf(m_new), 0.0, m_new)
            p = jnp.exp(logits - m_new)
            pv = jnp.einsum(
                "bhts,bhsi->bhti",
                p.astype(value.dtype),
                value[:, :, k_start:k_stop],
                preferred_element_type=jnp.float32,
            )
            if m is None:
                l, acc = jnp.sum(p, axis=-1, keepdims=True), pv
            else:
                correction = jnp.exp(m - m_new)
                l = l * correction + jnp.sum(p, axis=-1, keepdims=True)
                acc = acc * correction + pv
            m = m_new
        if mask is None:
            outputs.append(acc / l)
            normalisers.append(m + jnp.log(l))
        else:  # ℓ = 0: no allowed key; O = 0 and L = +∞ (every recomputed P is then 0).
            seen = l > 0
            outputs.append(acc / jnp.where(seen, l, 1.0))
            normalisers.append(jnp.where(seen, m + jnp.log(jnp.where(seen, l, 1.0)), jnp.inf))
    out = jnp.concatenate(outputs, axis=2).astype(query.dtype)
    return out, jnp.concatenate(normalisers, axis=2)


def _backward(
    query, key, value, mask, out, normaliser, d_out, causal: bool, block: int, key_block: int
):
    """(dQ, dK, dV) of the module docstring, each in its input's dtype."""
    t, s, head_dim = query.shape[2], key.shape[2], query.shape[3]
    scale = 1 / math.sqrt(head_dim)
    scaled = query * jnp.asarray(scale, query.dtype)
    d_out = d_out.astype(query.dtype)
    delta = jnp.sum(d_out.astype(jnp.float32) * out.astype(jnp.float32), axis=-1, keepdims=True)
    d_query_blocks = []
    d_key = jnp.zeros(key.shape, jnp.float32)
    d_value = jnp.zeros(value.shape, jnp.float32)
    f32 = functools.partial(jnp.einsum, preferred_element_type=jnp.float32)
    for q_start in range(0, t, block):
        q = (q_start, min(t, q_start + block))
        query_block, d_out_block = scaled[:, :, q[0] : q[1]], d_out[:, :, q[0] : q[1]]
        d_query_block = 0.0
        for k_start, k_stop, diagonal in _key_blocks(*q, s, key_block, causal):
            keys, values = key[:, :, k_start:k_stop], value[:, :, k_start:k_stop]
            p = jnp.exp(_logits(query_block, keys) - normaliser[:, :, q[0] : q[1]])
            allowed = _allowed(mask, diagonal, q, (k_start, k_stop))
            if allowed is not None:
                p = jnp.where(allowed, p, 0.0)
            d_value = d_value.at[:, :, k_start:k_stop].add(
                f32("bhts,bhti->bhsi", p.astype(value.dtype), d_out_block)
            )
            d_p = f32("bhti,bhsi->bhts", d_out_block, values)
            d_logits = (p * (d_p - delta[:, :, q[0] : q[1]])).astype(query.dtype)
            d_query_block = d_query_block + f32("bhts,bhsk->bhtk", d_logits, keys)
            d_key = d_key.at[:, :, k_start:k_stop].add(
                f32("bhts,bhtk->bhsk", d_logits, query_block)
            )
        d_query_blocks.append(d_query_block * scale)
    d_query = jnp.concatenate(d_query_blocks, axis=2)
    # Keys past every query's reach (causal, S > T) get no gradient: their rows stay 0.
    return d_query.astype(query.dtype), d_key.astype(key.dtype), d_value.astype(value.dtype)


@functools.partial(jax.custom_vjp, nondiff_argnums=(4, 5, 6))
def _attention(query, key, value, mask, causal, block, key_block):
    return _forward(query, key, value, mask, causal, block, key_block)[0]


def _attention_fwd(query, key, value, mask, causal, block, key_block):
    out, normaliser = _forward(query, key, value, mask, causal, block, key_block)
    return out, (query, key, value, mask, out, normaliser)


def _attention_bwd(causal, block, key_block, residuals, d_out):
    query, key, value, mask, out, normaliser = residuals
    grads = _backward(query, key, value, mask, out, normaliser, d_out, causal, block, key_block)
    d_mask = None if mask is None else jnp.zeros(mask.shape, jax.dtypes.float0)
    return (*grads, d_mask)


_attention.defvjp(_attention_fwd, _attention_bwd)


def blocked_attention(
    query: Array,
    key: Array,
    value: Array,
    mask: Array | None = None,
    causal: bool = False,
    block: int = DEFAULT_BLOCK,
    key_block: int = DEFAULT_BLOCK,
) -> Array:
    """The attention heads of the module docstring, blocked.

    Args:
      query: [B, H, T, K]; key, value: [B, H, S, K], all of one floating dtype.
      mask: bool [B|1, H|1, T, S], True where query t may attend to key t′; None allows all.
      causal: also mask key t′ > t, skipping the key blocks above the diagonal.
      block: b, positions per block (``block_size`` may raise it for long sequences).

    Returns:
      heads V [B, H, T, K] in the inputs' dtype, equal to ``einsum_attention``'s up to rounding.
    """
    return _attention(
        query,
        key,
        value,
        mask,
        causal,
        block_size(query.shape[2], block),
        block_size(key.shape[2], key_block),
    )
