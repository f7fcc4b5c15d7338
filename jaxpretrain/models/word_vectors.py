"""CBOW word vectors with two tables (Mikolov et al. 2013a, 2013b), optionally from subword bags.

Parameters:
  "context": float [R, D], e′, the input vectors (word2vec's ``syn0``, fastText's input matrix,
    the exported word vectors). R = V without subwords; with subwords R = V + subword rows and a
    word's vector is the mean of its bag's rows (Bojanowski et al. 2017, Sec. 3.2):
        e′(w) = (1/|B(w)|) Σ_{r∈B(w)} context[r].
  "target": float [V, D], e, the output vectors (word2vec's ``syn1neg``).

Initialisation as word2vec.c (``InitNet``): context uniform in [−0.5/D, 0.5/D), target zero, so the
first scores are exactly 0 and the first loss is (K + 1) ln 2.

CBOW scores a target w against the mean of its context words' vectors:
    h(c) = (1/|c|) Σ_{w′∈c} e′(w′),   s(w, c) = e(w)ᵀ h(c).
The model reads whole chunks: the context of position i is positions i ± 1..b_i, so h is a banded
matrix product over the chunk's vectors (``window_mean``) rather than a gather of 2·window ids per
word (10× less memory traffic at window 5, which is what CPU training speed is bound by).
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np


def _uniform(scale: float):
    def init(key, shape, dtype=jnp.float32):
        return jax.random.uniform(key, shape, dtype, -scale, scale)

    return init


def window_mean(vectors, words, reach):
    """h[b, i] = mean of vectors[b, j] over context positions j of word i: 1 ≤ |i − j| ≤ reach[b, i]
    and words[b, j] ≥ 0 (j inside the chunk).

    As a banded matrix product h = (M x) / (M 1) with M[b, i, j] = [1 ≤ |i − j| ≤ reach[b, i]] ·
    [words[b, j] ≥ 0]: one batched matmul instead of 2·window shifted copies or a gather of the
    context ids (5× faster on CPU at L = 125, including the backward pass; the cost grows as L²·D,
    so keep chunks short).

    Args:
      vectors: float [B, L, D], the input vector of each position's word.
      words: int [B, L], word ids, -1 for padding.
      reach: int [B, L], each position's dynamic window b in [1, window].

    Returns:
      (h float [B, L, D], count float [B, L], the number of context words; h = 0 where it is 0).
    """
    length = words.shape[1]
    distance = jnp.abs(jnp.arange(length)[:, None] - jnp.arange(length)[None, :])  # [L, L]
    band = (
        (distance[None] >= 1) & (distance[None] <= reach[:, :, None]) & (words >= 0)[:, None, :]
    ).astype(vectors.dtype)  # M [B, L, L]
    count = band.sum(-1)  # [B, L]
    summed = jnp.einsum("bij,bjd->bid", band, vectors)
    return summed / jnp.maximum(count, 1.0)[..., None], count


class CBOW(nn.Module):
    """CBOW scorer.

    Attributes:
      vocab_size: V, rows of the target table (and the first V rows of the context table).
      features: D, the vector size.
      bags: optional int [V, S] rows of each word's bag, -1 padded (``data.Subwords.table``);
        None for plain word vectors (bag = the word's own row).
      num_rows: R, rows of the context table (V + subword rows); ignored when bags is None.
    """

    vocab_size: int
    features: int
    bags: Any = None
    num_rows: int = 0

    def setup(self):
        rows = self.vocab_size if self.bags is None else self.num_rows
        self.context = self.param("context", _uniform(0.5 / self.features), (rows, self.features))
        self.target = self.param("target", nn.initializers.zeros, (self.vocab_size, self.features))

    def word_vectors(self) -> jax.Array:
        """float [V, D]: e′(w) of every vocabulary word (the mean of its bag's rows)."""
        if self.bags is None:
            return self.context
        bags = np.asarray(self.bags)
        words, slots = np.nonzero(bags >= 0)  # One entry per (word, row) pair, words sorted.
        rows = self.context[bags[words, slots]]  # [P, D]
        sums = jax.ops.segment_sum(rows, words, self.vocab_size, indices_are_sorted=True)
        return sums / np.maximum((bags >= 0).sum(1), 1)[:, None].astype(np.float32)

    def __call__(self, words, reach, negatives):
        """Scores of each position's word (the target) and its negatives against its context.

        Args:
          words: int [B, L] word ids of a chunk, -1 for padding.
          reach: int [B, L] dynamic window b of each position, in [1, window].
          negatives: int [B, L, K] negative word ids.

        Returns:
          target_scores float [B, L], negative_scores float [B, L, K], and has_context bool
          [B, L]: a real word with at least one context word (word2vec trains only those).
        """
        safe = jnp.maximum(words, 0)
        h, count = window_mean(self.word_vectors()[safe], words, reach)
        target_scores = jnp.einsum("bld,bld->bl", self.target[safe], h)
        negative_scores = jnp.einsum("blkd,bld->blk", self.target[negatives], h)
        return target_scores, negative_scores, (words >= 0) & (count > 0)
