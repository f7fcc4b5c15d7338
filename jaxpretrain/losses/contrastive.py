"""InfoNCE and the mutual-information bound it gives (van den Oord et al. 2018, "Representation
Learning with Contrastive Predictive Coding", Eqs. 4-5).

One positive hides among N negatives; a critic scores all N+1 candidates, s_i = f(x_i, c) (CPC's
f is the log-bilinear z_iᵀ W_Δt c_t). The loss is the cross-entropy of picking the positive:

    L_N = -ln [ exp(s_pos) / Σ_{i=1}^{N+1} exp(s_i) ] = logsumexp_i s_i - s_pos,       (Eq. 4)

and minimising it maximises a lower bound on the mutual information (Eq. 5, Appendix A):

    I(x_{t+k}; c_t) >= ln(N+1) - L_N.

The bound can never exceed ln(N+1) (since L_N >= 0): with few negatives, high MI is out of reach.

Scores are promoted to at least float32 and reduced with a log-sum-exp, so large or bfloat16
scores give an accurate loss. Per-example output; the caller reduces.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from jaxpretrain.errors import InputError
from jaxpretrain.losses.masking import apply_mask, check_where, sanitize

Array = jax.Array


def info_nce(scores, positives, *, where=None) -> Array:
    """InfoNCE (CPC's L_N): -log softmax(scores)[positive], one value per row.

    Each row of ``scores`` holds the critic's scores of its N+1 candidates, one of them positive.
    Works for any layout: per-row candidates ``[..., N+1]`` with the positive's index, or a score
    matrix ``[B, M]`` of B queries against M shared candidates (the rest of the batch as
    negatives) with ``positives`` the index of each row's own candidate.

    Args:
      scores: float [..., N+1] candidate scores (logits), N >= 1.
      positives: int [...] index of the positive candidate of each row, or a one-hot (bool or
        float) [..., N+1] marking it.
      where: optional bool [...]; False rows give exactly 0 loss and exactly 0, finite gradients.

    Returns:
      float [...] (the scores' dtype, at least float32): L_N of each row, >= 0; equal scores give
      exactly ln(N+1).
    """
    scores = jnp.asarray(scores)
    if not jnp.issubdtype(scores.dtype, jnp.floating):
        raise InputError(f"info_nce: scores must be floating, got dtype {scores.dtype}.")
    if scores.ndim < 1 or scores.shape[-1] < 2:
        raise InputError(
            f"info_nce: scores {scores.shape} need at least one negative besides the positive "
            "([..., N+1] with N >= 1); add negatives (e.g. a larger batch)."
        )
    scores = scores.astype(jnp.promote_types(scores.dtype, jnp.float32))
    positives = jnp.asarray(positives)
    if positives.shape == scores.shape:  # One-hot.
        positive_score = jnp.sum(jnp.where(positives.astype(bool), scores, 0.0), axis=-1)
    elif positives.shape == scores.shape[:-1] and jnp.issubdtype(positives.dtype, jnp.integer):
        positive_score = jnp.take_along_axis(scores, positives[..., None], axis=-1)[..., 0]
    else:
        raise InputError(
            f"info_nce: positives must be int indices {scores.shape[:-1]} or a one-hot "
            f"{scores.shape}, got {positives.dtype}{list(positives.shape)}."
        )
    where = check_where(where, scores.shape[:-1], "info_nce")
    scores = sanitize(scores, where)
    positive_score = sanitize(positive_score, where)
    loss = jax.nn.logsumexp(scores, axis=-1) - positive_score
    return apply_mask(loss, where)


def mi_lower_bound(loss, num_candidates: int) -> Array:
    """The InfoNCE bound on mutual information, ln(N+1) - L_N (CPC Eq. 5), in nats.

    Args:
      loss: float [...] InfoNCE loss (per example, or its mean: the bound on I is the mean's).
      num_candidates: N+1, the positive plus the N negatives each row was scored against (an
        int, or an array when it is only known inside a traced function).

    Returns:
      float [...], at most ln(num_candidates).
    """
    if isinstance(num_candidates, (int, float)) and (
        int(num_candidates) != num_candidates or num_candidates < 2
    ):
        raise InputError(
            f"mi_lower_bound: num_candidates = N+1 must be an int >= 2 (one positive and at least "
            f"one negative), got {num_candidates}."
        )
    if isinstance(num_candidates, (int, float)):
        return math.log(num_candidates) - jnp.asarray(loss)
    return jnp.log(jnp.asarray(num_candidates, jnp.float32)) - jnp.asarray(loss)
