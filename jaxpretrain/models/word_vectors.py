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
matrix product over the chunk's vectors, block by block (``window_mean``), rather than a gather of
2·window ids per word (10× less memory traffic at window 5, which is what CPU training speed is
bound by).

Negatives may be shared by G consecutive words of a chunk (Ji et al. 2016, "Parallelizing Word2Vec
in Shared and Distributed Memory"): each word still meets K draws from unigram^0.75, but the G words'
scores against them are one [G, D] × [D, K] product instead of G gathers of K rows, and the sparse
update touches K rows per group instead of G·K. G = 1 is word2vec's own draw per word.

Scoring is written on *rows*: ``row_ids`` names the table rows a batch uses and ``cbow_scores``
computes from the gathered rows alone, so a trainer can differentiate with respect to those rows
and update only them (the sparse SGD of word2vec.c; ``train.step``).
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


def window_mean(vectors, words, reach, window: int | None = None):
    """h[b, i] = mean of vectors[b, j] over context positions j of word i: 1 ≤ |i − j| ≤ reach[b, i]
    and words[b, j] ≥ 0 (j inside the chunk).

    As banded matrix products h = (M x) / (M 1) with M[b, i, j] = [1 ≤ |i − j| ≤ reach[b, i]] ·
    [words[b, j] ≥ 0], computed block by block: the chunk's positions split into blocks of
    S = min(L, 5·window) and block n's rows meet only the S + 2·window positions around it (M is
    zero further out). One batched matmul of [S, S + 2·window] blocks instead of 2·window shifted
    copies or a gather of the context ids, and (L / (S + 2·window)) times fewer multiplications
    than the whole [L, L] band: on 2 CPU cores at L = 125, window 5, the forward and backward
    pass take 0.4 ms against 1.4 ms for the whole band and 0.7 ms for stacked shifted copies.

    Args:
      vectors: float [B, L, D], the input vector of each position's word.
      words: int [B, L], word ids, -1 for padding.
      reach: int [B, L], each position's dynamic window b in [1, window].
      window: the largest reach (None: L − 1, every position may meet every other one).

    Returns:
      (h float [B, L, D], count float [B, L], the number of context words; h = 0 where it is 0).
    """
    B, L, D = vectors.shape
    halo = L - 1 if window is None else min(window, L - 1)
    size = min(L, max(5 * halo, 1))  # S, positions per block
    blocks = -(-L // size)
    padded = blocks * size
    span = size + 2 * halo  # the positions a block's rows may read
    # Pad the chunk to whole blocks, plus a halo of padding (never context) either side.
    x = jnp.pad(vectors, ((0, 0), (halo, padded - L + halo), (0, 0)))
    real = jnp.pad(words >= 0, ((0, 0), (halo, padded - L + halo)))
    reach = jnp.pad(reach, ((0, 0), (0, padded - L)))
    x_blocks = jnp.stack([x[:, n * size : n * size + span] for n in range(blocks)], 1)
    real_blocks = jnp.stack([real[:, n * size : n * size + span] for n in range(blocks)], 1)
    # Row i of a block is position n·S + i, column j position n·S + j − halo.
    distance = jnp.abs(jnp.arange(size)[:, None] + halo - jnp.arange(span)[None, :])  # [S, span]
    band = (
        (distance >= 1)
        & (distance <= reach.reshape(B, blocks, size)[..., None])
        & real_blocks[:, :, None, :]
    ).astype(vectors.dtype)  # M [B, blocks, S, span]
    count = band.sum(-1)  # [B, blocks, S]
    # (M / (M 1)) x: the rows of M normalised first, so the product is already the mean.
    mean = band / jnp.maximum(count, 1.0)[..., None]
    h = jnp.einsum("bnij,bnjd->bnid", mean, x_blocks).reshape(B, padded, D)[:, :L]
    return h, count.reshape(B, padded)[:, :L]


@jax.custom_vjp
def group_scores(groups, negatives):
    """s[b, g, i, k] = groups[b, g, i] · negatives[b, g, k]: each word of a group against the
    group's K shared negatives.

    Args:
      groups: float [B, G, S, D], the context means h of the S words of each group.
      negatives: float [B, G, K, D], each group's negative rows.

    Returns:
      float [B, G, S, K].

    The forward pass is one batched matmul; the backward pass, ∂groups = Σ_k ds[..., k] n_k and
    ∂negatives = Σ_i ds[..., i, :] h_i, is written as S + K broadcast products (two elementwise
    loops) instead of autodiff's two batched matmuls of B·G tiny [S, K] × [K, D] blocks, which
    XLA:CPU runs one block at a time (0.25 ms against 0.44 ms for the step's forward and backward
    at B = 8, G = 25, S = K = 5, D = 100 on 2 CPU cores).
    """
    return jnp.einsum("bgid,bgkd->bgik", groups, negatives)


def _group_scores_forward(groups, negatives):
    return group_scores(groups, negatives), (groups, negatives)


def _group_scores_backward(residuals, ds):
    groups, negatives = residuals  # [B, G, S, D], [B, G, K, D]; ds [B, G, S, K]
    S, K = groups.shape[2], negatives.shape[2]
    if S * K > 256:  # Long unrolled sums compile slowly; the matmuls are big enough then.
        return (
            jnp.einsum("bgik,bgkd->bgid", ds, negatives),
            jnp.einsum("bgik,bgid->bgkd", ds, groups),
        )
    d_groups = sum(ds[..., k, None] * negatives[:, :, None, k, :] for k in range(K))
    d_negatives = sum(ds[:, :, i, :, None] * groups[:, :, i, None, :] for i in range(S))
    return d_groups, d_negatives


group_scores.defvjp(_group_scores_forward, _group_scores_backward)


def bag_layout(words, bags, budget: int):
    """The bag rows of a batch's words, flattened: position i's |B(w_i)| rows are consecutive.

    Padded [B, L, S] bags would read S rows per word (S = the longest bag, 59 for fastText's
    3..6-grams on the KJV) where the average word has 11; the flat layout reads each chunk's
    real rows and ``budget`` − Σ|B| padding rows.

    Args:
      words: int [B, L] word ids, -1 for padding.
      bags: int [V, S] rows of each word's bag, -1 padded.
      budget: P ≥ Σ_i |B(w_i)| of every chunk: ``data.word_vectors.bag_budget`` takes the
        largest over the corpus's chunks (a chunk with more bag rows would lose its last ones).

    Returns:
      rows int [B, P] (padding slots read row 0) and positions int [B, P], the position i each
      slot belongs to (L for padding slots).
    """
    bags = jnp.asarray(bags)
    length = words.shape[1]
    safe = jnp.maximum(words, 0)
    sizes = jnp.where(words >= 0, (bags >= 0).sum(1)[safe], 0)  # [B, L]

    def one_chunk(chunk_words, chunk_sizes):  # [L], [L] -> [P], [P]
        spare = budget - chunk_sizes.sum()
        positions = jnp.repeat(
            jnp.arange(length + 1),
            jnp.append(chunk_sizes, spare),
            total_repeat_length=budget,
        )
        starts = jnp.append(jnp.cumsum(chunk_sizes) - chunk_sizes, 0)  # [L + 1]
        slots = jnp.arange(budget) - starts[positions]
        owner = jnp.append(chunk_words, 0)[positions]
        rows = jnp.where(positions < length, bags[owner, jnp.minimum(slots, bags.shape[1] - 1)], 0)
        return rows, positions

    return jax.vmap(one_chunk)(safe, sizes)


def row_ids(words, negatives, bags=None, budget: int = 0) -> dict[str, jax.Array]:
    """The table rows a batch reads: {"context": int [B, L] (or [B, P], ``bag_layout``),
    "target": int [B, L + G·K]} (each position's word, then the negatives). Padding (-1) reads
    row 0; its rows get zero weight in ``cbow_scores``, hence zero gradient."""
    safe = jnp.maximum(words, 0)
    context = safe if bags is None else bag_layout(words, bags, budget)[0]
    target = jnp.concatenate([safe, negatives.reshape(negatives.shape[0], -1)], axis=1)
    return {"context": context, "target": target}


def cbow_scores(
    rows, words, reach, negatives, bags=None, budget: int = 0, window: int | None = None
):
    """Scores of each position's word (the target) and of its negatives against its context.

    Args:
      rows: the gathered rows of ``row_ids``: "context" float [B, L, D] (or [B, P, D] bag
        rows), "target" float [B, L + G·K, D].
      words: int [B, L] word ids of a chunk, -1 for padding.
      reach: int [B, L] dynamic window b of each position, in [1, window].
      negatives: int [B, G, K] negative word ids; the L positions form G groups of L/G
        consecutive words, each group sharing its K negatives (G = L: one draw per word).
      bags, budget: the model's subword bags (int [V, S], -1 padded) and bag budget P, or None.
      window: the largest reach (``window_mean``); None when unknown (slower, same scores).

    Returns:
      target_scores float [B, L], negative_scores float [B, L, K], and has_context bool
      [B, L]: a real word with at least one context word (word2vec trains only those).
    """
    B, L = words.shape
    G, K = negatives.shape[1:]
    context = rows["context"]
    if bags is not None:  # e′(w) = (1/|B(w)|) Σ_{r∈B(w)} context[r]
        _, positions = bag_layout(words, bags, budget)
        bag_sum = jax.vmap(lambda r, p: jax.ops.segment_sum(r, p, L + 1, indices_are_sorted=True))(
            context, positions
        )  # [B, L + 1, D], the last segment collects the padding slots
        sizes = jax.vmap(lambda p: jnp.bincount(p, length=L + 1))(positions)  # [B, L + 1]
        context = bag_sum[:, :L] / jnp.maximum(sizes[:, :L], 1)[..., None].astype(context.dtype)
    h, count = window_mean(context, words, reach, window)
    targets, negative_rows = jnp.split(rows["target"], [L], axis=1)
    target_scores = jnp.einsum("bld,bld->bl", targets, h)
    groups = h.reshape(B, G, L // G, -1)  # [B, G, L/G, D]
    negative_rows = negative_rows.reshape(B, G, K, -1)  # [B, G, K, D]
    negative_scores = group_scores(groups, negative_rows).reshape(B, L, K)
    return target_scores, negative_scores, (words >= 0) & (count > 0)


def gather_rows(tables, ids):
    """{name: tables[name][ids[name]]}: the rows ``ids`` names, from a params-like dict."""
    return {name: tables[name][index] for name, index in ids.items()}


class CBOW(nn.Module):
    """CBOW scorer.

    Attributes:
      vocab_size: V, rows of the target table (and the first V rows of the context table).
      features: D, the vector size.
      bags: optional int [V, S] rows of each word's bag, -1 padded (``data.Subwords.table``);
        None for plain word vectors (bag = the word's own row).
      num_rows: R, rows of the context table (V + subword rows); ignored when bags is None.
      bag_budget: P, bag rows per chunk (``bag_layout``); ignored when bags is None.
      window: the largest dynamic window of the batches (``window_mean``); None when unknown.
    """

    vocab_size: int
    features: int
    bags: Any = None
    num_rows: int = 0
    bag_budget: int = 0
    window: int | None = None

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
        """``cbow_scores`` of a batch (words [B, L], reach [B, L], negatives [B, G, K])."""
        tables = {"context": self.context, "target": self.target}
        rows = gather_rows(tables, row_ids(words, negatives, self.bags, self.bag_budget))
        return cbow_scores(rows, words, reach, negatives, self.bags, self.bag_budget, self.window)


class WordVectorMean(nn.Module):
    """A sentence as the mean of its words' CBOW input vectors (the "word_mean" backbone): the
    averaged-word-vector baseline of a downstream text task.

    ``__call__(words int [B, T])`` (ids of the CBOW vocabulary, -1 for padding and unknown
    words) -> (1/|w|) Σ_{t: w_t ≥ 0} e′(w_t), float [B, D] (zeros for a row without a known
    word). Params {"cbow": {"context", "target"}}: a whole CBOW run's tables (``init_subtree``
    "backbone/cbow"); only the input vectors are read.
    """

    vocab_size: int
    features: int

    @nn.compact
    def __call__(self, words):
        vectors = CBOW(self.vocab_size, self.features, name="cbow").context[jnp.maximum(words, 0)]
        weight = (words >= 0)[..., None].astype(vectors.dtype)
        return jnp.sum(vectors * weight, axis=1) / jnp.maximum(jnp.sum(weight, axis=1), 1.0)
