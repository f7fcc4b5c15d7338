"""Word-vector losses: CBOW with negative sampling (word2vec).

Mikolov et al. 2013a ("Efficient Estimation of Word Representations in Vector Space") predict a
word w from the bag of its context words c (CBOW); Mikolov et al. 2013b ("Distributed
Representations of Words and Phrases and their Compositionality", Eq. 4) replace the softmax by
negative sampling. With two tables, e (target, word2vec's ``syn1neg``) and e′ (context,
word2vec's ``syn0``, the exported word vectors), the score of w in context c is

    s(w, c) = (1/|c|) Σ_{w′∈c} e(w)ᵀ e′(w′)

and the loss of one training triple (w, c, N_c), N_c the sampled negatives, is

    ℓ(w, c, N_c) = ln(1 + e^{−s(w,c)}) + Σ_{n∈N_c} ln(1 + e^{s(n,c)})
                 = softplus(−s(w, c)) + Σ_n softplus(s(n, c)).

The primitive takes the scores, so any way of building them (plain words, fastText subword bags)
shares it.
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp

from jaxpretrain.errors import InputError
from jaxpretrain.losses.masking import apply_mask, check_where, sanitize

Array = jax.Array


def cbow_negative_sampling(target_scores, negative_scores, *, where=None) -> Array:
    """Per-example negative-sampling loss softplus(−s(w,c)) + Σ_k softplus(s(n_k,c)).

    softplus(x) = ln(1 + eˣ) is evaluated stably (``jax.nn.softplus``: max(x, 0) + ln(1 + e^{−|x|})),
    so scores of any magnitude give finite values and gradients. With all scores 0 the loss is
    (K + 1) ln 2.

    Args:
      target_scores: [B] float, s(w, c) of each example's true (target) word.
      negative_scores: [B, K] float, s(n_k, c) of its K negatives.
      where: optional bool [B]; False rows (padding, subsampled-away words) give loss 0 and
        gradient 0, even if their scores are not finite.

    Returns:
      [B] loss in nats, in the scores' floating dtype.

    References:
      Mikolov et al. 2013b, "Distributed Representations of Words and Phrases and their
      Compositionality", Eq. 4; Mikolov et al. 2013a (CBOW).
    """
    target_scores = jnp.asarray(target_scores)
    negative_scores = jnp.asarray(negative_scores)
    chex.assert_rank(target_scores, 1)
    chex.assert_rank(negative_scores, 2)
    if negative_scores.shape[0] != target_scores.shape[0]:
        raise InputError(
            f"cbow_negative_sampling: negative_scores {negative_scores.shape} must be [B, K] with"
            f" B = {target_scores.shape[0]} rows, one per target score."
        )
    where = check_where(where, target_scores.shape, "cbow_negative_sampling")
    target_scores = sanitize(target_scores, where)
    negative_scores = sanitize(negative_scores, where)
    loss = jax.nn.softplus(-target_scores) + jnp.sum(jax.nn.softplus(negative_scores), axis=-1)
    return apply_mask(loss, where)
