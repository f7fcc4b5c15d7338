"""CBOW word vectors with negative sampling (word2vec; fastText with subwords).

Mikolov et al. 2013a/b: predict each word w from the mean of its context words' input vectors
(``models.CBOW``), against K negatives from unigram^0.75 (``losses.cbow_negative_sampling``):

    L = Σ_{(w, c, N_c) in the batch} softplus(−s(w, c)) + Σ_{n∈N_c} softplus(s(n, c)).

The loss is the *sum* over the batch's training triples, so that ``config.optimizer.base_lr`` is
word2vec's per-word learning rate α (0.05 for CBOW in word2vec.c and fastText) and SGD with
linear decay to 0 is word2vec's schedule, applied once per batch instead of once per word.
Metrics: ``loss_per_word`` (starts at (K + 1) ln 2) and ``words``, the triples in the batch.

Batches come from a "words" data config (``data.word_vectors``): ``words`` int [B, L] (the kept
words of B chunks, -1 padded), ``reach`` int [B, L] (dynamic windows) and ``negatives`` int
[B, L, K]; the model builds each word's context from its chunk. With ``data.subwords`` "ngrams" (Bojanowski et al. 2017) or "bpe", a word's input
vector is the mean of its subword bag.

A fine-tune inherits both tables (``ENCODER`` = ""); the word vectors are ``params["context"]``.
"""

from __future__ import annotations

import jax.numpy as jnp

from jaxpretrain import losses, models
from jaxpretrain.data.word_vectors import cbow_transform, word_data

ENCODER = ""  # The whole params tree.


def make_model(config) -> models.CBOW:
    """``models.CBOW`` over the vocabulary of ``config.data``; D = ``config.model.features``."""
    data = word_data(config.data)
    plain = data.subwords.kind == "none"
    return models.CBOW(
        vocab_size=len(data.vocabulary),
        features=config.model.features,
        bags=None if plain else data.subwords.table,
        num_rows=data.subwords.num_rows,
    )


def _inputs(batch):
    words, reach, negatives = batch["words"], batch["reach"], batch["negatives"]
    if words.ndim != 2 or reach.shape != words.shape or negatives.shape[:2] != words.shape:
        raise ValueError(
            "cbow expects words [B, L], reach [B, L] and negatives [B, L, K], got shapes"
            f" {words.shape}, {reach.shape}, {negatives.shape}."
        )
    return words, reach, negatives


def _losses(params, batch, model):
    target_scores, negative_scores, where = model.apply({"params": params}, *_inputs(batch))
    if "mask" in batch:  # bool [B]: False marks eval padding chunks.
        where = where & batch["mask"][:, None]
    B, L, K = negative_scores.shape
    per_word = losses.cbow_negative_sampling(
        target_scores.reshape(B * L), negative_scores.reshape(B * L, K), where=where.reshape(B * L)
    )
    return jnp.sum(per_word), jnp.sum(where.astype(jnp.float32))


def init_params(rng, batch, *, model, config):
    del config
    return model.init(rng, *_inputs(batch))["params"]


def loss_fn(params, batch, rng, *, model, config):
    """Summed negative-sampling loss of the batch's triples (see the module docstring)."""
    del rng, config  # Every draw (subsampling, windows, negatives) happened on the host.
    total, words = _losses(params, batch, model)
    return total, {"loss_per_word": total / jnp.maximum(words, 1.0), "words": words}


def eval_metrics(params, batch, *, model, config):
    """Mean loss per word of each batch (the loop averages batches weighted by chunks; chunks
    hold nearly equal numbers of words)."""
    del config
    total, words = _losses(params, batch, model)
    return {"loss_per_word": total / jnp.maximum(words, 1.0)}


def preprocess(config, *, train: bool):
    """word2vec's sampling of each chunk (``data.word_vectors.CbowTransform``); evaluation gets
    the same transform under a fixed seed."""
    del train
    return cbow_transform(config.data)


def encoder_params(params):
    return params
