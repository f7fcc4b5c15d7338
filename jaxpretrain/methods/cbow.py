"""CBOW word vectors with negative sampling (word2vec; fastText with subwords).

Mikolov et al. 2013a/b: predict each word w from the mean of its context words' input vectors
(``models.CBOW``), against K negatives from unigram^0.75 (``losses.cbow_negative_sampling``):

    L = Σ_{(w, c, N_c) in the batch} softplus(−s(w, c)) + Σ_{n∈N_c} softplus(s(n, c)).

The loss is the *sum* over the batch's training triples, so that ``config.optimizer.base_lr`` is
word2vec's per-word learning rate α (0.05 for CBOW in word2vec.c and fastText) and SGD with
linear decay to 0 is word2vec's schedule, applied once per batch instead of once per word.
Metrics: ``loss_per_word`` (starts at (K + 1) ln 2) and ``words``, the triples in the batch.

Batches are raw chunks of a "words" data config (``data.word_vectors``): ``ids`` int32 [B, L],
L consecutive in-vocabulary words, -1 padded (4 bytes per word to ship; the corpus never lives on
the device). word2vec's sampling happens inside the jitted step (``draw_batch``, the train step's
hook, with a key split off the step's ``fold_in(rng, step)``; ``draw_chunks``): no host thread
competes with the step for the cores, and batch s is still a pure function of (seed, s), so a
resumed run draws what an uninterrupted one would. For each chunk:

- subsampling, word2vec.c's formula (not the paper's 1 − √(t/f)): word w of relative frequency
  f(w) is kept with probability min(1, √(t/f(w)) + t/f(w)), t = ``data.sample``; the kept words
  are packed to the front in order (``words`` int [B, L], -1 after them), as word2vec.c drops
  them from its sentence before windowing;
- a dynamic window per position (``reach`` int [B, L]): b uniform in [1, window], the context
  being the kept words at distances 1..b on either side (nearer words weigh more);
- negatives (``negatives`` int [B, G, K]): K draws from the unigram distribution raised to 0.75,
  P(n) ∝ count(n)^0.75 (Mikolov et al. 2013b, Sec. 2.2), by inverse-CDF sampling
  (``jnp.searchsorted`` of uniforms in the cumulative table), one draw of K per group of
  L/G consecutive positions (G = L is word2vec's draw per word).

The model builds each word's context from its chunk. With ``data.subwords`` "ngrams"
(Bojanowski et al. 2017) or "bpe", a word's input vector is the mean of its subword bag, laid out
inside the step too (``models.word_vectors.bag_layout``).

The method exports ``sparse_rows`` and ``rows_loss_fn``: with plain SGD the train step updates
only the table rows a batch reads (``train.step``), so a step costs the same with a 2M-row
fastText bucket table as with a 5k-word vocabulary.

A fine-tune inherits both tables (``ENCODER`` = ""); the word vectors are ``params["context"]``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxpretrain import losses, models
from jaxpretrain.data.word_vectors import cbow_sampling, dataset_words
from jaxpretrain.errors import ConfigError
from jaxpretrain.methods.common import require_dataset

ENCODER = ""  # The whole params tree.


def make_model(config, dataset=None) -> models.CBOW:
    """``models.CBOW`` over the vocabulary and subword bags of ``dataset``, the "words" data set
    ``config.data`` names (its tokenizer is a ``data.WordData``); D = ``config.model.features``."""
    dataset = require_dataset(dataset, "cbow")
    words = dataset_words(dataset)
    plain = words.subwords.kind == "none"
    return models.CBOW(
        vocab_size=len(words.vocabulary),
        features=config.model.features,
        bags=None if plain else words.subwords.table,
        num_rows=words.subwords.num_rows,
        bag_budget=0 if plain else words.bag_budget(dataset.train.chunk),
        window=cbow_sampling(config.data).window,
    )


def _uniform(bits):
    """float32 uniforms in [0, 1), multiples of 2^-24, from uint32 random bits."""
    return (bits >> 8).astype(jnp.float32) * jnp.float32(2.0**-24)


def draw_batch(batch, rng, *, model, config):
    """word2vec's draws for raw chunks (module docstring): {"ids": int [B, L], optional "mask"}
    -> ``draw_chunks``'s {"words", "reach", "negatives"} (and "mask"), a pure function of
    ``rng``. The train step calls it with a key of the step's own, evaluation with a fixed key."""
    del model
    out = draw_chunks(batch["ids"], rng, cbow_sampling(config.data))
    if "mask" in batch:
        out["mask"] = batch["mask"]
    return out


def draw_chunks(ids, rng, sampling) -> dict:
    """Subsampling, dynamic windows and negatives of chunks (module docstring).

    Args:
      ids: int [B, L] word ids of B chunks, -1 padded; L a multiple of ``sampling.shared_by``.
      rng: a PRNG key; the draws are a pure function of it.
      sampling: a ``data.word_vectors.CbowSampling`` (window, K, keep probabilities, cdf).

    Returns:
      {"words": int32 [B, L], each chunk's kept words packed to the front in order, -1 after;
       "reach": int32 [B, L], b uniform in [1, window] per position;
       "negatives": int32 [B, L / shared_by, K], draws from unigram^0.75}.
    """
    if ids.ndim != 2 or ids.shape[1] % sampling.shared_by:
        raise ConfigError(
            f"cbow expects chunks ids [B, L] with L a multiple of data.negatives_shared_by"
            f" ({sampling.shared_by}), got shape {ids.shape}."
        )
    B, L = ids.shape
    G, K = L // sampling.shared_by, sampling.negatives
    # One draw of random bits for the whole batch (one threefry call compiles and runs faster than
    # three): [B, L] for subsampling, [B, L] for windows, [B, G·K] for negatives.
    bits = jax.random.bits(rng, (B, 2 * L + G * K), jnp.uint32)
    keep_bits, reach_bits, negative_bits = jnp.split(bits, [L, 2 * L], axis=1)
    safe = jnp.maximum(ids, 0)
    # Kept with probability min(1, √(t/f) + t/f): a uniform in [0, 1) is below it that often.
    kept = (ids >= 0) & (_uniform(keep_bits) < jnp.asarray(sampling.keep)[safe])
    slot = jnp.where(kept, jnp.cumsum(kept, axis=1) - 1, L)  # [B, L]; L: dropped (out of range)
    words = (
        jnp.full((B, L), -1, jnp.int32)
        .at[jnp.arange(B)[:, None], slot]
        .set(ids.astype(jnp.int32), mode="drop", unique_indices=True)
    )
    # b uniform in [1, window]: the modulo's bias is below window / 2^32.
    reach = 1 + (reach_bits % sampling.window).astype(jnp.int32)
    cdf = jnp.asarray(sampling.cdf)  # [V], last entry 1: P(n ≤ i) under unigram^0.75
    negatives = jnp.searchsorted(
        cdf, _uniform(negative_bits).reshape(B, G, K), side="right", method="scan_unrolled"
    ).astype(jnp.int32)
    return {"words": words, "reach": reach, "negatives": jnp.minimum(negatives, len(cdf) - 1)}


def _inputs(batch):
    words, reach, negatives = batch["words"], batch["reach"], batch["negatives"]
    B, L = words.shape if words.ndim == 2 else (None, None)
    if reach.shape != words.shape or negatives.ndim != 3 or negatives.shape[0] != B:
        raise ConfigError(
            "cbow expects words [B, L], reach [B, L] and negatives [B, G, K], got shapes"
            f" {words.shape}, {reach.shape}, {negatives.shape}."
        )
    if L % negatives.shape[1]:
        raise ConfigError(
            f"cbow: the {L} positions of a chunk must split into the {negatives.shape[1]} groups"
            " of negatives evenly (data.chunk must be a multiple of data.negatives_shared_by)."
        )
    return words, reach, negatives


def sparse_rows(batch, *, model, config):
    """The rows of the "context" and "target" tables this batch reads (``models.row_ids``): the
    train step differentiates ``rows_loss_fn`` with respect to them and, with plain SGD, updates
    only those rows, as word2vec does."""
    del config
    words, _, negatives = _inputs(batch)
    return models.row_ids(words, negatives, model.bags, model.bag_budget)


def _losses(rows, batch, model):
    words, reach, negatives = _inputs(batch)
    target_scores, negative_scores, where = models.cbow_scores(
        rows, words, reach, negatives, model.bags, model.bag_budget, model.window
    )
    if "mask" in batch:  # bool [B]: False marks eval padding chunks.
        where = where & batch["mask"][:, None]
    B, L, K = negative_scores.shape
    per_word = losses.cbow_negative_sampling(
        target_scores.reshape(B * L), negative_scores.reshape(B * L, K), where=where.reshape(B * L)
    )
    return jnp.sum(per_word), jnp.sum(where.astype(jnp.float32))


def init_params(rng, batch, *, model, config):
    """The tables, initialised as word2vec.c's (``models.CBOW``), for raw chunks ``batch``."""
    drawn = draw_batch(batch, jax.random.PRNGKey(0), model=model, config=config)
    return model.init(rng, *_inputs(drawn))["params"]


def rows_loss_fn(rows, batch, rng, *, model, config):
    """``loss_fn`` on the gathered rows of ``sparse_rows`` (see the module docstring)."""
    del rng, config  # Every draw happened in ``draw_batch``, before the rows were gathered.
    total, words = _losses(rows, batch, model)
    return total, {"loss_per_word": total / jnp.maximum(words, 1.0), "words": words}


def loss_fn(params, batch, rng, *, model, config):
    """Summed negative-sampling loss of a drawn batch's triples (``draw_batch``; module
    docstring)."""
    rows = models.gather_rows(params, sparse_rows(batch, model=model, config=config))
    return rows_loss_fn(rows, batch, rng, model=model, config=config)


def eval_metrics(params, batch, *, model, config):
    """Mean loss per word of each batch (the loop averages batches weighted by chunks; chunks
    hold nearly equal numbers of words)."""
    rows = models.gather_rows(params, sparse_rows(batch, model=model, config=config))
    total, words = _losses(rows, batch, model)
    return {"loss_per_word": total / jnp.maximum(words, 1.0)}


def preprocess(config, *, train: bool, dataset=None):
    """None: the batches are the raw chunks, drawn from inside the step (``draw_batch``)."""
    del config, train, dataset
