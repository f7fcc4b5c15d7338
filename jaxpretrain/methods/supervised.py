"""Supervised (pre)training: a classifier, any registered backbone plus a linear head, trained
with softmax cross-entropy (or, with one output, squared error: a regression).

The ImageNet-pretraining recipe (He et al. 2016) whose backbone later methods fine-tune: minimise
mean_b -log softmax(f(x_b))[y_b] (optionally with label smoothing, Szegedy et al. 2016) with
large-batch synchronous SGD (Goyal et al. 2017; the scaling rule lives in ``train.optim``).

``config.model.backbone`` names the encoder (``models.BACKBONES``: a ResNet, a patch grid, the
inpainting encoder, CPC's sequence encoder, BERT's text encoder) and the batch keys it reads
("image", "signal", "tokens"...); ``config.data.num_classes`` sizes the head. One output
(``num_classes`` = 1) makes the task a regression on a float label, trained on
mean_b (f(x_b) - y_b)² (BERT's STS-B head, Devlin et al. 2019, Sec. 4.1). ``config.head_dropout``
drops out the pooled features in training, and a backbone with dropout of its own (BERT) runs it
in training too. ``config.data.metrics`` names scores of the whole eval split (``methods.scores``:
accuracy, F1, Matthews and Pearson/Spearman correlation), computed from ``eval_outputs``.

The same model, started from a pretraining run, is the fine-tune (``methods.finetune``); trained
from scratch it is the baseline beside it.
"""

from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp

from jaxpretrain import models
from jaxpretrain.data.images import make_image_transform
from jaxpretrain.methods.common import classification_loss, masked_mean
from jaxpretrain.methods.scores import split_scores

ENCODER = "backbone"

# The host transform of each kind of backbone input; a kind not listed is used as stored.
_TRANSFORMS = {"image": make_image_transform}


def make_model(config, dataset=None) -> models.Classifier:
    """A ``Classifier`` over ``models.backbone(config.model)`` with ``config.data.num_classes``
    outputs and ``config.head_dropout`` before the head."""
    del dataset
    return models.Classifier(
        backbone=models.backbone(config.model),
        num_classes=config.data.num_classes,
        dropout_rate=config.get("head_dropout", 0.0),
        backbone_dropout=models.backbone_has_dropout(config.model),
    )


def inputs(batch, config) -> tuple:
    """The arrays the backbone reads, in call order (e.g. ``(batch["image"],)``)."""
    return tuple(batch[key] for key in models.backbone_inputs(config.model))


def init_params(rng, batch, *, model, config):
    # Plain arrays: a backbone may box its params with logical axis names (BERT's do).
    return nn.unbox(model.init(rng, *inputs(batch, config))["params"])


def _is_regression(config) -> bool:
    return config.data.num_classes == 1


def _logits(params, batch, *, model, config, dropout_rng=None):
    if dropout_rng is None:
        return model.apply({"params": params}, *inputs(batch, config))
    return model.apply(
        {"params": params},
        *inputs(batch, config),
        deterministic=False,
        rngs={"dropout": dropout_rng},
    )


def _loss(logits, batch, config):
    mask = batch.get("mask")
    if _is_regression(config):
        squared = jnp.square(logits[:, 0] - batch["label"].astype(jnp.float32))  # [B]
        loss = masked_mean(squared, mask)
        return loss, {"mse": loss}
    return classification_loss(
        logits, batch["label"], mask, label_smoothing=config.get("label_smoothing", 0.0)
    )


def loss_fn(params, batch, rng, *, model, config):
    """Cross-entropy of ``model`` on the backbone's inputs (``batch["image"]`` [B, H, W, C],
    ``batch["signal"]`` [B, T, C], or ``batch["tokens"]``, ``"token_types"``, ``"valid"`` [B, T])
    against ``batch["label"]`` (int [B]); squared error against a float [B] label when
    ``num_classes`` is 1. ``rng`` drives dropout.

    An optional ``batch["mask"]`` (bool [B]) excludes padding rows from every metric.
    """
    logits = _logits(params, batch, model=model, config=config, dropout_rng=rng)
    return _loss(logits, batch, config)


def eval_metrics(params, batch, *, model, config):
    """The loss and its metrics without dropout, means over the real rows."""
    loss, metrics = _loss(_logits(params, batch, model=model, config=config), batch, config)
    return {**metrics, "loss": loss}


def eval_outputs(params, batch, *, model, config):
    """Each example's prediction (the argmax class, or the value of a regression) and label,
    [B] each, for the split's scores (``split_metrics``)."""
    logits = _logits(params, batch, model=model, config=config)
    prediction = logits[:, 0] if _is_regression(config) else jnp.argmax(logits, -1)
    return {"prediction": prediction, "label": batch["label"]}


def split_metrics(outputs, *, config) -> dict[str, float]:
    """``config.data.metrics`` (e.g. ("mcc",)) over the whole split, from the real rows'
    ``eval_outputs`` gathered into [N] arrays; {} when the config names none."""
    names = config.data.get("metrics") or ()
    if not names:
        return {}
    return split_scores(names, outputs["prediction"], outputs["label"])


def preprocess(config, *, train: bool, dataset=None):
    """The data's image transform for an image backbone; other inputs are used as stored."""
    del dataset
    transform = _TRANSFORMS.get(models.backbone_inputs(config.model)[0])
    return None if transform is None else transform(config.data, train=train)
