"""Supervised pretraining: a ResNet classifier trained with softmax cross-entropy.

The ImageNet-pretraining recipe (He et al. 2016) whose backbone later methods fine-tune: minimise
mean_b -log softmax(f(x_b))[y_b] (optionally with label smoothing, Szegedy et al. 2016) with
large-batch synchronous SGD (Goyal et al. 2017; the scaling rule lives in ``train.optim``).
"""

from __future__ import annotations

import jax.numpy as jnp

from jaxpretrain import models
from jaxpretrain.data.images import make_image_transform
from jaxpretrain.methods.common import classification_loss
from jaxpretrain.models.cpc import PatchEncoder

ENCODER = "backbone"


def image_backbone(model_config, *, pooled: bool = True):
    """The image encoder ``config.model`` names, shared by the methods that pretrain one and the
    classifier that inherits it:

    - ``variant`` "conv_encoder": ``models.ConvEncoder`` (fields ``features``, ``num_groups``), the
      encoder inpainting and colorization train;
    - a ResNet preset (``variant`` plus ``models.resnet`` overrides); with ``patch_size`` and
      ``patch_stride`` it runs on each patch of an overlapping grid (``models.cpc.PatchEncoder``,
      CPC's encoder).

    ``pooled``: mean over positions (or patches), [B, D]; else the feature map (or grid).
    """
    if model_config.variant == "conv_encoder":
        return models.ConvEncoder(
            tuple(model_config.features), model_config.num_groups, pool=pooled
        )
    grid = ("variant", "patch_size", "patch_stride")
    overrides = {k: v for k, v in model_config.items() if k not in grid}
    if "dtype" in overrides:  # Configs name the compute dtype as a string, e.g. "bfloat16".
        overrides["dtype"] = jnp.dtype(overrides["dtype"])
    resnet = models.resnet(model_config.variant, **overrides)
    if not model_config.get("patch_size"):
        return resnet
    return PatchEncoder(
        resnet=resnet,
        patch_size=model_config.patch_size,
        patch_stride=model_config.patch_stride,
        pooled=pooled,
    )


def make_model(config, dataset=None) -> models.Classifier:
    """A ``Classifier`` whose backbone is ``image_backbone(config.model)`` and head has
    ``config.data.num_classes`` outputs."""
    del dataset
    return models.Classifier(
        backbone=image_backbone(config.model), num_classes=config.data.num_classes
    )


def init_params(rng, batch, *, model, config):
    del config
    return model.init(rng, batch["image"])["params"]


def loss_fn(params, batch, rng, *, model, config):
    """Cross-entropy of ``model`` on ``batch = {"image": [B,H,W,C], "label": int [B]}``.

    An optional ``batch["mask"]`` (bool [B]) excludes padding rows from every metric.
    """
    del rng
    logits = model.apply({"params": params}, batch["image"])
    return classification_loss(
        logits,
        batch["label"],
        batch.get("mask"),
        label_smoothing=config.get("label_smoothing", 0.0),
    )


def preprocess(config, *, train: bool, dataset=None):
    del dataset
    return make_image_transform(config.data, train=train)


def encoder_params(params):
    return params[ENCODER]
