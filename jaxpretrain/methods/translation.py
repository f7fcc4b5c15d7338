"""Translation with the encoder-decoder Transformer (Vaswani et al., "Attention Is All You Need",
2017).

Batches hold padded sentence pairs (``data.translation``): ``source`` int [B, S] with
``source_length`` [B], ``target`` int [B, T + 1] = BOS y_1..y_n EOS PAD... with
``target_length`` [B] = n + 1. The model reads the source and the decoder inputs target[:, :-1]
(teacher forcing) and is scored on the labels target[:, 1:] at their first target_length
positions. The loss is the label-smoothed cross-entropy (Szegedy et al. 2016; ε_ls = 0.1 in
Vaswani et al. §5.4) averaged over every real target token of the batch:

    L = Σ_{b,t real} [(1-ε)(-log p(y_bt)) + ε · mean_v(-log p(v))] / #real tokens

Metrics: ``nll`` (the same mean without smoothing, nats/token) and ``token_accuracy`` (teacher-
forced argmax). Evaluation reports them as means over sentences (each sentence's mean over its
tokens), so that averaging eval batches by their real rows is exact, and ``exact_match``: the
fraction of sentences whose greedy translation (``translate``) is exactly the reference, EOS
included (``config.eval_greedy``).

A fine-tune inherits the whole network: ``ENCODER`` is "" (every parameter).
"""

from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp

from jaxpretrain import losses, models
from jaxpretrain.data.translation import EOS_ID
from jaxpretrain.errors import ConfigError
from jaxpretrain.methods.common import masked_mean
from jaxpretrain.models.decoding import beam_search, greedy_decode

ENCODER = ""  # The whole params tree: a fine-tune inherits everything.


def make_model(config, dataset=None) -> models.Transformer:
    """``models.transformer(config.model.variant)`` with V = data.vocab_size on both sides,
    max_length = the longer of data.max_source_length and data.max_target_length, and every other
    ``config.model`` field (width, num_layers, share_embeddings, dtype...) overriding the preset."""
    del dataset
    overrides = models.module_fields(config.model, drop=("variant",))
    data = config.data
    if not data.get("shared_vocab", True) and overrides.get("share_embeddings", True):
        raise ConfigError(
            "data.shared_vocab=False gives the two languages different token ids, so they cannot "
            "share an embedding table: set model.share_embeddings=False."
        )
    return models.transformer(
        config.model.variant,
        source_vocab_size=data.vocab_size,
        target_vocab_size=data.vocab_size,
        max_length=max(data.max_source_length, data.max_target_length),
        **overrides,
    )


def _unpack(batch):
    """(source [B, S], source_valid [B, S], decoder inputs [B, T], labels [B, T], label_valid
    [B, T] (False at padding and in eval padding rows), row mask [B] or None)."""
    source, target = batch["source"], batch["target"]
    if source.ndim != 2 or target.ndim != 2 or target.shape[1] < 2:
        raise ConfigError(
            f"translation expects batch['source'] int [B, S] and batch['target'] int [B, T + 1] "
            f"with T >= 1, got shapes {source.shape} and {target.shape}."
        )
    source_valid = jnp.arange(source.shape[1]) < batch["source_length"][:, None]
    label_valid = jnp.arange(target.shape[1] - 1) < batch["target_length"][:, None]
    rows = batch.get("mask")  # bool [B]: False marks eval padding rows.
    if rows is not None:
        label_valid &= rows[:, None]
    return source, source_valid, target[:, :-1], target[:, 1:], label_valid, rows


def init_params(rng, batch, *, model, config):
    del config
    source, source_valid, inputs, *_ = _unpack(batch)
    variables = model.init(rng, source, inputs, source_valid=source_valid)
    return nn.unbox(variables["params"])


def _token_terms(params, batch, *, model, config, dropout_rng):
    """Per-token smoothed loss, nll and correctness, float32 [B, T] each, and label_valid."""
    source, source_valid, inputs, labels, valid, _ = _unpack(batch)
    kwargs = {} if dropout_rng is None else dict(deterministic=False, rngs={"dropout": dropout_rng})
    logits = model.apply({"params": params}, source, inputs, source_valid=source_valid, **kwargs)
    smoothing = config.get("label_smoothing", 0.0)
    loss = losses.softmax_cross_entropy(logits, labels, label_smoothing=smoothing, where=valid)
    nll = loss if smoothing == 0 else losses.next_token(logits, labels, where=valid)
    correct = (jnp.argmax(logits, axis=-1) == labels).astype(jnp.float32)
    return loss, nll, correct, valid


def loss_fn(params, batch, rng, *, model, config):
    """Label-smoothed cross-entropy per real target token (module docstring); ``rng`` drives
    dropout when the model's dropout_rate (the preset's, or config.model's) is > 0."""
    dropout = model.dropout_rate > 0 and rng is not None
    terms = _token_terms(
        params, batch, model=model, config=config, dropout_rng=rng if dropout else None
    )
    loss, nll, correct, valid = (x.reshape(-1) for x in terms)  # Every real token counts once.
    return masked_mean(loss, valid), {
        "nll": masked_mean(nll, valid),
        "token_accuracy": masked_mean(correct, valid),
    }


def translate(params, source, source_valid, *, model, max_length, beam_size=1, alpha=0.6):
    """Translations of a batch by greedy decoding (``beam_size`` 1) or beam search.

    Args:
      params: the Transformer's params.
      source: int [B, S]; source_valid: bool [B, S].
      model: the Transformer.
      max_length: L, the most target tokens (EOS included) to generate; ≤ model.max_length.
      beam_size: k; 1 is greedy.
      alpha: α of the GNMT length penalty (beam search only).

    Returns:
      int32 [B, L]: y_1..y_n EOS, then EOS (``models.decoding``); the best hypothesis.
    """
    b = source.shape[0]
    encoded = model.apply({"params": params}, source, source_valid, method="encode")
    if beam_size > 1:  # Row b·k + j is beam j of sentence b.
        encoded = jnp.repeat(encoded, beam_size, axis=0)
        source_valid = jnp.repeat(source_valid, beam_size, axis=0)
    cache = models.init_decode_cache(model, b * beam_size, max_length)

    def step(tokens, cache):
        logits, variables = model.apply(
            {"params": params, "cache": cache},
            tokens,
            encoded,
            source_valid,
            decode=True,
            mutable=["cache"],
            method="decode",
        )
        return logits[:, -1], variables["cache"]

    ids = dict(max_length=max_length, bos_id=EOS_ID, eos_id=EOS_ID)
    if beam_size == 1:
        return greedy_decode(step, cache, batch_size=b, **ids)
    tokens, _ = beam_search(step, cache, batch_size=b, beam_size=beam_size, alpha=alpha, **ids)
    return tokens[:, 0]


def eval_metrics(params, batch, *, model, config):
    """Sentence means (module docstring) of the loss, nll and token accuracy, without dropout,
    and the greedy ``exact_match`` if ``config.eval_greedy``."""
    loss, nll, correct, valid = _token_terms(
        params, batch, model=model, config=config, dropout_rng=None
    )
    rows = batch.get("mask")
    count = jnp.maximum(jnp.sum(valid, axis=-1), 1)
    metrics = {
        name: masked_mean(jnp.sum(x, axis=-1) / count, rows)  # Masked terms are exactly 0.
        for name, x in (("loss", loss), ("nll", nll), ("token_accuracy", correct * valid))
    }
    if config.get("eval_greedy", True):
        source, source_valid, _, labels, valid, _ = _unpack(batch)
        predicted = translate(
            params, source, source_valid, model=model, max_length=labels.shape[1]
        )  # [B, T]
        exact = jnp.all((predicted == labels) | ~valid, axis=-1).astype(jnp.float32)
        metrics["exact_match"] = masked_mean(exact, rows)
    return metrics


def preprocess(config, *, train: bool, dataset=None):
    """No per-example transform: the sources give padded pairs."""
    del config, train, dataset
    return None
