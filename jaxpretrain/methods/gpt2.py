"""GPT-2 causal language modelling: maximise the likelihood of each next token.

Radford et al. 2019 ("Language Models are Unsupervised Multitask Learners", Sec. 2) factorise
p(x) = Π_t p(x_{t+1} | x_{≤t}) and train a causal Transformer (``models.GPT``) to minimise

    L = mean_{b real, t < W} -log softmax(f(x_b[:W]))[t, x_b[t+1]]

over windows ``batch["tokens"]``: int [B, W + 1] (``data.TokenWindows``); the model reads the
first W tokens and is scored on the last W (``losses.next_token``). Metrics: ``perplexity`` =
exp(L) and ``bits_per_token`` = L / ln 2 (bits per byte is L / ln 2 / bytes-per-token, see
``data.lm``). Dropout (``config.model.dropout_rate``) is active in training only.

A fine-tune inherits the whole network (embeddings, blocks and the tied output head), so
``ENCODER`` is "" (every parameter).
"""

from __future__ import annotations

import math

import flax.linen as nn
import jax.numpy as jnp

from jaxpretrain import losses, models
from jaxpretrain.errors import ConfigError
from jaxpretrain.methods.common import masked_mean

ENCODER = ""  # The whole params tree: a fine-tune inherits everything.


def make_model(config, dataset=None) -> models.GPT:
    """``models.gpt2(config.model.variant)`` with V = data.vocab_size, max_length = data.context
    (unless ``config.model.max_length`` is set, e.g. to keep an imported model's 1024 learned
    positions) and every other ``config.model`` field (width, num_layers, dropout_rate, dtype...)
    overriding the preset."""
    del dataset
    overrides = models.module_fields(config.model, drop=("variant",))
    fields = {"vocab_size": config.data.vocab_size, "max_length": config.data.context}
    return models.gpt2(config.model.variant, **{**fields, **overrides})


def _inputs_targets(batch):
    tokens = batch["tokens"]
    if tokens.ndim != 2 or tokens.shape[1] < 2:
        raise ConfigError(
            f"gpt2 expects batch['tokens'] int [B, W + 1] with W >= 1, got shape {tokens.shape}."
        )
    return tokens[:, :-1], tokens[:, 1:]  # [B, W] each: inputs x[:W], targets x[1:].


def init_params(rng, batch, *, model, config):
    del config
    inputs, _ = _inputs_targets(batch)
    return nn.unbox(model.init(rng, inputs)["params"])


def _row_losses(params, batch, *, model, dropout_rng):
    """Mean next-token loss of each row: float32 [B] (and the row mask, bool [B] or None)."""
    inputs, targets = _inputs_targets(batch)
    mask = batch.get("mask")  # bool [B]: False marks eval padding rows.
    if dropout_rng is None:
        logits = model.apply({"params": params}, inputs)
    else:
        logits = model.apply(
            {"params": params}, inputs, deterministic=False, rngs={"dropout": dropout_rng}
        )
    where = None if mask is None else jnp.broadcast_to(mask[:, None], targets.shape)  # [B, W]
    per_token = losses.next_token(logits, targets, where=where)  # [B, W]
    # Every row has W targets, so the mean over rows of row means is the mean over tokens.
    return jnp.mean(per_token, axis=-1), mask


def _metrics(loss):
    return {"perplexity": jnp.exp(loss), "bits_per_token": loss / math.log(2)}


def loss_fn(params, batch, rng, *, model, config):
    """Mean next-token cross-entropy (nats/token) of ``batch = {"tokens": int [B, W + 1]}``.

    An optional ``batch["mask"]`` (bool [B]) excludes padding rows. ``rng`` drives dropout when
    ``config.model.dropout_rate`` > 0.
    """
    dropout = config.model.get("dropout_rate", 0.0) > 0 and rng is not None
    rows, mask = _row_losses(params, batch, model=model, dropout_rng=rng if dropout else None)
    loss = masked_mean(rows, mask)
    return loss, _metrics(loss)


def eval_metrics(params, batch, *, model, config):
    """Deterministic (no dropout) loss and bits/token, means over the real rows of the batch.

    Perplexity is left out: exp of a batch mean does not average over batches into exp of the
    split's mean; compute it as exp(eval/loss).
    """
    del config
    rows, mask = _row_losses(params, batch, model=model, dropout_rng=None)
    loss = masked_mean(rows, mask)
    return {"loss": loss, "bits_per_token": loss / math.log(2)}


def preprocess(config, *, train: bool, dataset=None):
    """No per-example transform: windows are used as they are."""
    del config, train, dataset
    return None
