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
[B, G, K] (shared by groups of L/G words; G = L by default); the model builds each word's context
from its chunk. With ``data.subwords`` "ngrams" (Bojanowski et al. 2017) or "bpe", a word's input
vector is the mean of its subword bag.

The method exports ``sparse_rows`` and ``rows_loss_fn``: with plain SGD the train step updates
only the table rows a batch reads (``train.step``), so a step costs the same with a 2M-row
fastText bucket table as with a 5k-word vocabulary.

A fine-tune inherits both tables (``ENCODER`` = ""); the word vectors are ``params["context"]``.
"""

from __future__ import annotations

import jax.numpy as jnp

from jaxpretrain import losses, models
from jaxpretrain.data.word_vectors import cbow_transform, dataset_words
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
    )


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
        rows, words, reach, negatives, model.bags, model.bag_budget
    )
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


def rows_loss_fn(rows, batch, rng, *, model, config):
    """``loss_fn`` on the gathered rows of ``sparse_rows`` (see the module docstring)."""
    del rng, config  # Every draw (subsampling, windows, negatives) happened on the host.
    total, words = _losses(rows, batch, model)
    return total, {"loss_per_word": total / jnp.maximum(words, 1.0), "words": words}


def loss_fn(params, batch, rng, *, model, config):
    """Summed negative-sampling loss of the batch's triples (see the module docstring)."""
    rows = models.gather_rows(params, sparse_rows(batch, model=model, config=config))
    return rows_loss_fn(rows, batch, rng, model=model, config=config)


def eval_metrics(params, batch, *, model, config):
    """Mean loss per word of each batch (the loop averages batches weighted by chunks; chunks
    hold nearly equal numbers of words)."""
    rows = models.gather_rows(params, sparse_rows(batch, model=model, config=config))
    total, words = _losses(rows, batch, model)
    return {"loss_per_word": total / jnp.maximum(words, 1.0)}


def preprocess(config, *, train: bool, dataset=None):
    """word2vec's sampling of each chunk (``data.word_vectors.CbowTransform`` over ``dataset``'s
    word counts); evaluation gets the same transform under a fixed seed."""
    del config, train
    return cbow_transform(require_dataset(dataset, "cbow"))
