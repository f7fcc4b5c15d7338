"""Scaled dot-product attention over projected heads, two ways (Vaswani et al., "Attention Is All
You Need", 2017, §3.2.1).

For head h, query time t, key time t′ (written s in code), per-head width k (keys) and i (values):

    s[h,t,t′] = (1/√K) Σ_k Query[h,t,k] Key[h,t′,k]                     (Vaswani et al. Eq. 1)
    α[h,t,t′] = softmax over the allowed t′ of s[h,t,t′]
    V[h,t,i]  = Σ_t′ α[h,t,t′] Value[h,t′,i]

Masks are boolean (``masks``). Masked logits are replaced by the most negative finite float32
before a float32 softmax, and α is then multiplied by "does row t allow any key", so a query with
no allowed key gets α = 0 exactly, V = 0 and finite gradients, never NaN.

Implementations (``IMPLEMENTATIONS``, name -> function of (query, key, value, mask, causal)), one
mathematical function:
- "einsum": the equations written out; α is materialised, [B, H, T, S] in float32 (the reference,
  and the only one that can return α).
- "blocked": ``blocked_attention``, flash-style blocks with an online softmax in plain JAX, for
  every platform: α is never stored, memory grows as T, and with ``causal=True`` the blocks above
  the diagonal are skipped.
- "xla" and "cudnn": ``jax.nn.dot_product_attention`` with that implementation. "cudnn" is cuDNN's
  fused flash attention on NVIDIA GPUs (bf16/fp16 only, ``check_cudnn``): α is never stored, and
  with ``causal=True`` the blocks above the diagonal are skipped, so memory grows as T, not T², and
  long contexts run faster.
"""

import functools
import math
from typing import Any

import jax
import jax.numpy as jnp

from jaxpretrain.errors import InputError
from jaxpretrain.models.blocked_attention import blocked_attention
from jaxpretrain.models.masks import causal_mask, combine_masks

Array = Any


def check_implementation(implementation: str) -> None:
    """A ValueError listing the choices unless ``implementation`` is one of them."""
    if implementation not in IMPLEMENTATIONS:
        raise InputError(
            f"unknown attention implementation {implementation!r}; choose one of "
            f"{', '.join(IMPLEMENTATIONS)}."
        )


def check_cudnn(dtype: Any, head_dim: int, t: int, s: int) -> None:
    """What cuDNN's flash attention supports (jax's check_is_flash_attention), checked before
    tracing so that a misfit is one clear error, not a failure inside jit.

    Args:
      dtype: the compute dtype; head_dim: K; t, s: the query and key lengths T and S.
    """
    problems = []
    if jnp.dtype(dtype) not in (jnp.bfloat16, jnp.float16):
        problems.append(f"dtype bfloat16 or float16 (got {jnp.dtype(dtype).name})")
    if head_dim % 8 or head_dim > 256:
        problems.append(f"a head width that is a multiple of 8, at most 256 (got {head_dim})")
    if t % 2 or s % 2:
        problems.append(f"even sequence lengths (got T {t}, S {s})")
    if problems:
        raise InputError(
            "attention implementation 'cudnn' (cuDNN flash attention) needs "
            + "; ".join(problems)
            + ": change that, or use implementation 'xla' or 'einsum'."
        )


def einsum_attention(
    query: Array, key: Array, value: Array, mask: Array | None, dtype: Any
) -> tuple[Array, Array]:
    """The equations of the module docstring, α included.

    Args:
      query: [B, H, T, K]; key, value: [B, H, S, K].
      mask: bool [B|1, H|1, T, S], True where query t may attend to key t′; None allows all.
      dtype: dtype of the returned heads.

    Returns:
      (heads V [B, H, T, K] in ``dtype``, α float32 [B, H, T, S]).
    """
    # s[b,h,t,t′] = (1/√K) Σ_k Query[b,h,t,k] Key[b,h,t′,k], in float32 for the softmax.
    logits = jnp.einsum("bhtk,bhsk->bhts", query, key).astype(jnp.float32)
    logits = logits / math.sqrt(query.shape[-1])
    if mask is not None:
        # A finite floor (not -inf) keeps fully masked rows finite: softmax of a constant
        # row is uniform, and the any-allowed factor below zeroes it.
        logits = jnp.where(mask, logits, jnp.finfo(jnp.float32).min)
    weights = jax.nn.softmax(logits, axis=-1)  # α [B, H, T, S]
    if mask is not None:
        weights = weights * jnp.any(mask, axis=-1, keepdims=True)
    # V[b,h,t,i] = Σ_t′ α[b,h,t,t′] Value[b,h,t′,i]
    heads = jnp.einsum("bhts,bhsi->bhti", weights.astype(dtype), value)  # [B, H, T, K]
    return heads, weights


def fused_attention(
    query: Array, key: Array, value: Array, mask: Array | None, causal: bool, implementation: str
) -> Array:
    """The same heads through ``jax.nn.dot_product_attention``; α is never stored.

    Rows with no allowed key give 0, as in the einsums: the kernel lets them attend everywhere
    (so no kernel meets an empty softmax, whose statistics could turn into NaN in its backward
    pass) and their output is then replaced by 0.

    Args:
      query: [B, H, T, K]; key, value: [B, H, S, K].
      mask: bool [B|1, H|1, T, S] or None.
      causal: also mask key t′ > t; the kernel skips those blocks instead of masking them.
      implementation: "xla" or "cudnn".

    Returns:
      heads V [B, H, T, K].
    """
    allowed = None if mask is None else jnp.any(mask, axis=-1, keepdims=True)  # [B|1, H|1, T, 1]
    swap = functools.partial(jnp.swapaxes, axis1=1, axis2=2)  # [B, H, T, K] <-> [B, T, H, K]
    heads = swap(
        jax.nn.dot_product_attention(
            swap(query),
            swap(key),
            swap(value),
            mask=None if mask is None else mask | ~allowed,
            is_causal=causal,
            implementation=implementation,
        )
    )  # [B, H, T, K]
    if mask is None:  # Causal rows always see their own key.
        return heads
    return jnp.where(allowed, heads, 0).astype(heads.dtype)


def _einsum_heads(query, key, value, mask, causal):
    if causal:
        mask = combine_masks(causal_mask(query.shape[2]), mask)
    return einsum_attention(query, key, value, mask, query.dtype)[0]


# name -> heads(query [B, H, T, K], key, value [B, H, S, K], mask [B|1, H|1, T, S] | None,
# causal) -> [B, H, T, K]: the same function computed four ways (module docstring).
IMPLEMENTATIONS = {
    "einsum": _einsum_heads,
    "blocked": blocked_attention,
    "xla": functools.partial(fused_attention, implementation="xla"),
    "cudnn": functools.partial(fused_attention, implementation="cudnn"),
}
