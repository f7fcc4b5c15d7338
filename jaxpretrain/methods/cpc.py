"""Contrastive Predictive Coding (van den Oord et al. 2018), for sequences and for images.

From the context c_t the bilinear predictor of offset k scores every latent of the batch,
s = z_jᵀ W_k c_t; the positive is z_{t+k} of the same sequence, the N negatives are every other
latent of the batch (other times and other sequences; for images, other patches and other
images). With L_CEN(k) the InfoNCE loss (``losses.info_nce``, Eq. 4), the objective is

    L = Σ_{k=1..K} λ_k L_CEN(k),        and  I(c_t; x_{t+k}) >= ln(N+1) - L_CEN(k)  (Eq. 5).

Metrics per offset: ``loss/dt{k}``, ``mi_bound/dt{k}`` (ln(N+1) - L_CEN(k), in nats) and
``accuracy/dt{k}`` (how often the positive scores highest), plus ``candidates`` (N+1).

Two models, picked by ``config.model.backbone`` (``models.BACKBONES``; ``models.cpc``):
- "cpc_sequence", ``batch["signal"]`` [B, T, C]: strided 1-D convs + GRU (``config.model`` holds
  the ``SequenceBackbone`` fields); the rows predicted are later times;
- "resnet_patches", ``batch["image"]`` [B, H, W, C]: a ResNet per patch of an overlapping grid +
  a masked (PixelCNN-style) context network, predicting the rows of patches below, k = 1..K rows
  down (``config.model`` holds ``resnet`` fields and the patch grid).
CPC's own fields are ``config.cpc``: ``offsets`` (K), ``offset_weights`` (λ_k; empty for all 1),
and for images ``context_features`` and ``context_layers``.

``ENCODER`` is the "backbone": the linear probe's frozen features (``methods.finetune`` with
``optimizer.freeze="backbone"``, for sequences and images alike).
"""

from __future__ import annotations

import jax.numpy as jnp

from jaxpretrain import losses, models
from jaxpretrain.errors import ConfigError
from jaxpretrain.methods import supervised
from jaxpretrain.models import cpc as cpc_models

ENCODER = "backbone"


def _vision(config, offsets: int) -> cpc_models.CPCVision:
    context = cpc_models.MaskedContext(
        features=config.cpc.context_features, num_layers=config.cpc.context_layers
    )
    backbone = models.backbone(config.model, pooled=False)  # z [B, R, S, D]
    return cpc_models.CPCVision(backbone=backbone, context=context, offsets=offsets)


def _sequence(config, offsets: int) -> cpc_models.CPCSequence:
    backbone = models.backbone(config.model, pooled=False)  # (z [B, T', D], c [B, T', D_c])
    return cpc_models.CPCSequence(backbone=backbone, offsets=offsets)


# The backbones CPC predicts over: rows of a patch grid, or time steps of a sequence.
_MODELS = {"resnet_patches": _vision, "cpc_sequence": _sequence}


def make_model(config, dataset=None):
    """``models.cpc.CPCVision`` over the "resnet_patches" backbone, or ``CPCSequence`` over
    "cpc_sequence" (``config.model.backbone``)."""
    del dataset
    offsets = config.cpc.offsets
    weights = tuple(config.cpc.offset_weights)
    if offsets < 1 or (weights and len(weights) != offsets):
        raise ConfigError(
            f"config.cpc.offsets must be >= 1 and offset_weights hold one λ per offset (or be "
            f"empty), got K = {offsets} and {weights}."
        )
    name = config.model.get("backbone")
    if name not in _MODELS:
        raise ConfigError(
            f"cpc predicts over the backbones {sorted(_MODELS)}, got config.model.backbone="
            f"{name!r}."
        )
    return _MODELS[name](config, offsets)


def _inputs(batch, config):
    (key,) = models.backbone_inputs(config.model)  # "image" or "signal"
    return batch[key]


def init_params(rng, batch, *, model, config):
    return model.init(rng, _inputs(batch, config))["params"]


def cpc_losses(z, predictions, *, mask=None):
    """Per-offset InfoNCE over every latent of the batch as a candidate.

    Args:
      z: float [B, T, *S, D] latents; T is the predicted axis (time, or rows of patches) and S
        any further positions (columns of patches), which only supply more negatives.
      predictions: float [K, B, T, *S, D], W_k c_t at every position.
      mask: optional bool [B]; False rows (eval padding) are neither queries nor candidates.

    Returns:
      (loss [K], accuracy [K], num_candidates []): mean L_CEN(k) over the rows that have a
      target k steps ahead, how often the positive scored highest, and N+1.
    """
    B, T = z.shape[:2]
    D = z.shape[-1]
    K = predictions.shape[0]
    ids = jnp.arange(z.size // D).reshape(B, T, -1)  # [B, T, S]: each latent's candidate id
    candidates = z.reshape(-1, D)  # [M, D], M = B*T*S
    valid = jnp.ones((B, T, ids.shape[-1]), bool) if mask is None else mask[:, None, None]
    valid = jnp.broadcast_to(valid, ids.shape)
    num_candidates = B * T * ids.shape[-1] if mask is None else jnp.sum(valid)
    per_offset, accuracy = [], []
    for k in range(1, K + 1):
        queries = predictions[k - 1][:, : T - k].reshape(-1, D)  # [B*(T-k)*S, D]
        scores = queries @ candidates.T  # [B*(T-k)*S, M]
        if mask is not None:  # Padding is never a negative.
            scores = jnp.where(valid.reshape(1, -1), scores, -jnp.inf)
        positives = ids[:, k:].reshape(-1)  # The same sequence (and column) k steps on.
        where = valid[:, k:].reshape(-1)
        loss = losses.info_nce(scores, positives, where=where)
        rows = jnp.maximum(jnp.sum(where), 1)
        hits = (jnp.argmax(scores, -1) == positives) & where
        per_offset.append(jnp.sum(loss) / rows)
        accuracy.append(jnp.sum(hits) / rows)
    return jnp.stack(per_offset), jnp.stack(accuracy), num_candidates


def loss_fn(params, batch, rng, *, model, config):
    """Σ_k λ_k L_CEN(k) on ``batch["signal"]`` [B, T, C] or ``batch["image"]`` [B, H, W, C]."""
    del rng
    z, _, predictions = model.apply({"params": params}, _inputs(batch, config))
    per_offset, accuracy, num_candidates = cpc_losses(z, predictions, mask=batch.get("mask"))
    weights = jnp.asarray(tuple(config.cpc.offset_weights) or (1.0,) * config.cpc.offsets)
    bounds = losses.mi_lower_bound(per_offset, num_candidates)
    metrics = {"candidates": jnp.asarray(num_candidates, jnp.float32)}
    for k in range(config.cpc.offsets):
        metrics[f"loss/dt{k + 1}"] = per_offset[k]
        metrics[f"mi_bound/dt{k + 1}"] = bounds[k]
        metrics[f"accuracy/dt{k + 1}"] = accuracy[k]
    return jnp.sum(weights * per_offset), metrics


preprocess = supervised.preprocess  # The data's image transform; signals as stored.
