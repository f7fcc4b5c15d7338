"""Supervised (pre)training: a classifier, any registered backbone plus a linear head, trained
with softmax cross-entropy.

The ImageNet-pretraining recipe (He et al. 2016) whose backbone later methods fine-tune: minimise
mean_b -log softmax(f(x_b))[y_b] (optionally with label smoothing, Szegedy et al. 2016) with
large-batch synchronous SGD (Goyal et al. 2017; the scaling rule lives in ``train.optim``).

``config.model.backbone`` names the encoder (``models.BACKBONES``: a ResNet, a patch grid, the
inpainting encoder, CPC's sequence encoder) and the batch keys it reads ("image", "signal");
``config.data.num_classes`` sizes the head. The same model, started from a pretraining run, is
the fine-tune (``methods.finetune``); trained from scratch it is the baseline beside it.
"""

from __future__ import annotations

from jaxpretrain import models
from jaxpretrain.data.images import make_image_transform
from jaxpretrain.methods.common import classification_loss

ENCODER = "backbone"

# The host transform of each kind of backbone input; a kind not listed is used as stored.
_TRANSFORMS = {"image": make_image_transform}


def make_model(config, dataset=None) -> models.Classifier:
    """A ``Classifier`` over ``models.backbone(config.model)`` with ``config.data.num_classes``
    outputs."""
    del dataset
    return models.Classifier(
        backbone=models.backbone(config.model), num_classes=config.data.num_classes
    )


def inputs(batch, config) -> tuple:
    """The arrays the backbone reads, in call order (e.g. ``(batch["image"],)``)."""
    return tuple(batch[key] for key in models.backbone_inputs(config.model))


def init_params(rng, batch, *, model, config):
    return model.init(rng, *inputs(batch, config))["params"]


def loss_fn(params, batch, rng, *, model, config):
    """Cross-entropy of ``model`` on the backbone's inputs (``batch["image"]`` [B, H, W, C] or
    ``batch["signal"]`` [B, T, C]) against ``batch["label"]`` (int [B]).

    An optional ``batch["mask"]`` (bool [B]) excludes padding rows from every metric.
    """
    del rng
    logits = model.apply({"params": params}, *inputs(batch, config))
    return classification_loss(
        logits,
        batch["label"],
        batch.get("mask"),
        label_smoothing=config.get("label_smoothing", 0.0),
    )


def preprocess(config, *, train: bool, dataset=None):
    """The data's image transform for an image backbone; other inputs are used as stored."""
    del dataset
    transform = _TRANSFORMS.get(models.backbone_inputs(config.model)[0])
    return None if transform is None else transform(config.data, train=train)
