"""BERT pretraining: the masked language model and next-sentence prediction (Devlin et al. 2019,
"BERT: Pre-training of Deep Bidirectional Transformers for Language Understanding", Sec. 3.1).

Each instance (``data.bert_pretraining``) is [CLS] A [SEP] B [SEP], where B follows A in the
document half the time and is a random segment of another document otherwise
(``batch["next_sentence"]`` = 1), and up to P of its tokens, 15%, were chosen for prediction
(80% replaced by [MASK], 10% by a random token, 10% kept). With the encoder's output h
(``models.Bert``) the loss is

    L_MLM = Σ_{b,p} w_bp · -log softmax(g(h_b[pos_bp]) Eᵀ + β)[id_bp] / (Σ_{b,p} w_bp + 1e-5)
    L_NSP = mean_b -log softmax(W tanh(W_pool h_b[0] + b_pool) + b)[next_sentence_b]
    L     = L_MLM + L_NSP

where pos, id and w are ``masked_positions``, ``masked_ids`` and ``masked_weights`` (w = 0 at
the padding of instances with fewer than P predictions), g is the masked-LM head's transform
(dense, GELU, LayerNorm) and E the word embeddings it shares with the input (google-research/
bert's run_pretraining.py reduces L_MLM in the same way). The head reads only the P chosen
positions, not all T. Metrics: each loss and its accuracy. Dropout (``config.model.
dropout_rate``, 0.1 in BERT) is active in training only.

A fine-tune (``methods.finetune`` with ``config.model.backbone = "bert"``) inherits the encoder
(embeddings, layers and pooler): ``ENCODER`` is "encoder".
"""

from __future__ import annotations

import jax.numpy as jnp

from jaxpretrain import losses, models
from jaxpretrain.data.bert_pretraining import instance_transform
from jaxpretrain.errors import ConfigError
from jaxpretrain.methods.common import masked_mean, require_dataset

ENCODER = "encoder"


def make_model(config, dataset=None) -> models.Bert:
    """``models.bert(config.model.variant)`` with every other ``config.model`` field overriding the
    preset. V is ``config.model.vocab_size`` if set, else the data's WordPiece vocabulary size
    (both set: they must agree); the position table defaults to ``config.data.max_length``."""
    fields = models.module_fields(config.model, drop=("variant", "backbone"))
    if dataset is not None:
        size = dataset.tokenizer.vocab_size
        if fields.setdefault("vocab_size", size) != size:
            raise ConfigError(
                f"config.model.vocab_size={fields['vocab_size']} but the data's WordPiece"
                f" vocabulary has {size} tokens: set config.model.vocab_size={size} (a small"
                " corpus can give fewer tokens than data.vocab_size asks for)."
            )
    elif "vocab_size" not in fields:
        require_dataset(dataset, "bert")
    fields.setdefault("max_length", config.data.max_length)
    return models.bert(config.model.variant, **fields)


def _apply(params, batch, *, model, dropout_rng=None):
    """(masked-LM logits float32 [B, P, V], next-sentence logits float32 [B, 2])."""
    kwargs = dict(
        token_types=batch["token_types"],
        valid=batch["valid"],
        masked_positions=batch["masked_positions"],
    )
    if dropout_rng is None:
        return model.apply({"params": params}, batch["tokens"], **kwargs)
    return model.apply(
        {"params": params},
        batch["tokens"],
        **kwargs,
        deterministic=False,
        rngs={"dropout": dropout_rng},
    )


def _losses(params, batch, *, model, dropout_rng=None):
    mlm_logits, nsp_logits = _apply(params, batch, model=model, dropout_rng=dropout_rng)
    rows = batch.get("mask")  # bool [B]: False marks eval padding rows.
    weights = batch["masked_weights"].astype(jnp.float32)  # [B, P]
    if rows is not None:
        weights = weights * rows[:, None]
    mlm = losses.masked_lm(mlm_logits, batch["masked_ids"], where=weights > 0)  # [B, P]
    total = jnp.sum(weights)
    mlm_loss = jnp.sum(mlm * weights) / (total + 1e-5)
    mlm_hits = (jnp.argmax(mlm_logits, -1) == batch["masked_ids"]).astype(jnp.float32)
    labels = batch["next_sentence"]
    nsp_loss = masked_mean(losses.next_sentence(nsp_logits, labels, where=rows), rows)
    nsp_hits = (jnp.argmax(nsp_logits, -1) == labels).astype(jnp.float32)
    loss = mlm_loss + nsp_loss
    return loss, {
        "mlm_loss": mlm_loss,
        "mlm_accuracy": jnp.sum(mlm_hits * weights) / jnp.maximum(total, 1.0),
        "nsp_loss": nsp_loss,
        "nsp_accuracy": masked_mean(nsp_hits, rows),
    }


def init_params(rng, batch, *, model, config):
    del config
    return models.init_bert(model, rng, length=batch["tokens"].shape[1])


def loss_fn(params, batch, rng, *, model, config):
    """L_MLM + L_NSP (module docstring) of a batch of instances: ``tokens``, ``token_types`` int
    [B, T], ``valid`` bool [B, T], ``masked_positions``, ``masked_ids`` int [B, P],
    ``masked_weights`` float [B, P], ``next_sentence`` int [B]; an optional ``mask`` bool [B]
    excludes padding rows. ``rng`` drives dropout when ``config.model.dropout_rate`` > 0."""
    dropout = config.model.get("dropout_rate", 0.0) > 0 and rng is not None
    return _losses(params, batch, model=model, dropout_rng=rng if dropout else None)


def eval_metrics(params, batch, *, model, config):
    """The losses and accuracies without dropout. Every metric is weighted by the batch's real
    rows when the loop averages over batches (the masked-LM ones are means over the batch's
    predictions, nearly proportional to its rows)."""
    del config
    loss, metrics = _losses(params, batch, model=model)
    return {**metrics, "loss": loss}


def preprocess(config, *, train: bool, dataset=None):
    """Makes each instance from its chunk of the corpus when it is read: the sentence pair, the
    truncation and the masks are drawn from the example's generator, so they differ every epoch
    and are a pure function of (seed, position) (``data.bert_pretraining``)."""
    dataset = require_dataset(dataset, "bert")
    return instance_transform(dataset, config.data, train=train)
