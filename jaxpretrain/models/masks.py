"""Boolean attention masks (Vaswani et al., "Attention Is All You Need", 2017, §3.2.3).

A mask says which keys each query may attend to: True where query t may attend to key t′, of
shape [B|1, H|1, T, S] (batch, heads, queries, keys; an axis of size 1 broadcasts). Attention
gives a masked pair the weight α[t, t′] = 0, and a query with no allowed key the output 0.

    causal:   allowed[t, t′] = t′ ≤ t                       (autoregressive decoding, §3.2.3)
    padding:  allowed[b, t, t′] = q_valid[b, t] ∧ k_valid[b, t′]
    combined: the logical and of any of them

Only boolean masks are accepted: an additive float mask (0 / -inf) passed by mistake would
otherwise broadcast silently and mask the wrong pairs.
"""

from typing import Any

import jax.numpy as jnp

from jaxpretrain.errors import InputError

Array = Any


def check_mask(mask: Array, name: str = "mask") -> Array:
    """``mask`` as a jax array, or a ValueError naming the fix if it is not boolean."""
    mask = jnp.asarray(mask)
    if mask.dtype != jnp.bool_:
        raise InputError(
            f"{name} must be boolean (True = may attend), got dtype {mask.dtype}. "
            "Additive float masks (0/-inf) are not accepted: convert with `mask == 0`."
        )
    return mask


def causal_mask(length: int) -> Array:
    """The causal (autoregressive) mask: query t may attend to key t′ iff t′ ≤ t.

    Args:
      length: T, the sequence length (queries and keys alike).

    Returns:
      bool [1, 1, T, T], lower triangular including the diagonal.
    """
    if length < 1:
        raise InputError(f"causal_mask needs a positive length, got {length}.")
    return jnp.tril(jnp.ones((length, length), jnp.bool_))[None, None]  # [1, 1, T, T]


def padding_mask(q_valid: Array, k_valid: Array | None = None) -> Array:
    """Allows query t to attend to key t′ iff both are real tokens (not padding).

    Args:
      q_valid: bool [B, T], True at real query positions.
      k_valid: bool [B, S], True at real key positions; defaults to ``q_valid`` (self-attention).

    Returns:
      bool [B, 1, T, S]. Rows of padded queries are all False, so their attention output is 0.
    """
    q_valid = check_mask(q_valid, "q_valid")
    k_valid = q_valid if k_valid is None else check_mask(k_valid, "k_valid")
    if q_valid.ndim != 2 or k_valid.ndim != 2:
        raise InputError(
            f"padding_mask expects q_valid [B, T] and k_valid [B, S], got shapes "
            f"{q_valid.shape} and {k_valid.shape}."
        )
    if q_valid.shape[0] != k_valid.shape[0]:
        raise InputError(
            f"q_valid and k_valid disagree on the batch size: {q_valid.shape} vs {k_valid.shape}."
        )
    return q_valid[:, None, :, None] & k_valid[:, None, None, :]  # [B, 1, T, S]


def combine_masks(*masks: Array | None) -> Array | None:
    """The logical and of boolean masks, skipping None; None if every mask is None.

    Args:
      *masks: bool arrays of one rank whose shapes broadcast, e.g. [1, 1, T, T] and [B, 1, T, T].

    Returns:
      bool array of the broadcast shape, or None.
    """
    masks = [check_mask(m) for m in masks if m is not None]
    if not masks:
        return None
    if len({m.ndim for m in masks}) != 1:
        raise InputError(
            f"combine_masks needs masks of one rank, got shapes {[m.shape for m in masks]}."
        )
    out = masks[0]
    for m in masks[1:]:
        out = jnp.logical_and(out, m)
    return out
