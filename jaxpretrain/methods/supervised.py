"""Supervised pretraining: a ResNet classifier trained with softmax cross-entropy.

The ImageNet-pretraining recipe (He et al. 2016) whose backbone later methods fine-tune: minimise
mean_b -log softmax(f(x_b))[y_b] (optionally with label smoothing, Szegedy et al. 2016) with
large-batch synchronous SGD (Goyal et al. 2017; the scaling rule lives in ``train.optim``).
"""

from __future__ import annotations

import jax.numpy as jnp

from jaxpretrain import losses, models
from jaxpretrain.data.images import make_image_transform
from jaxpretrain.methods.common import masked_mean

ENCODER = "backbone"


def make_model(config) -> models.Classifier:
    """A ``Classifier`` whose backbone is ``config.model`` and head has ``config.data.num_classes``.

    ``config.model.variant`` names a ResNet preset, or "conv_encoder": the pooled
    ``models.ConvEncoder`` (fields ``features``, ``num_groups``) of inpainting and colorization.
    """
    if config.model.variant == "conv_encoder":  # The encoder inpainting and colorization train.
        backbone = models.ConvEncoder(
            tuple(config.model.features), config.model.num_groups, pool=True
        )
        return models.Classifier(backbone=backbone, num_classes=config.data.num_classes)
    if config.model.get("patch_size"):  # CPC's patch grid: the ResNet per patch, mean-pooled.
        from jaxpretrain.methods.cpc import patch_encoder  # pylint: disable=import-outside-toplevel

        backbone = patch_encoder(config.model, pooled=True)
        return models.Classifier(backbone=backbone, num_classes=config.data.num_classes)
    overrides = {k: v for k, v in config.model.items() if k != "variant"}
    if "dtype" in overrides:  # Configs name the compute dtype as a string, e.g. "bfloat16".
        overrides["dtype"] = jnp.dtype(overrides["dtype"])
    return models.Classifier(
        backbone=models.resnet(config.model.variant, **overrides),
        num_classes=config.data.num_classes,
    )


def init_params(rng, batch, *, model, config):
    del config
    return model.init(rng, batch["image"])["params"]


def loss_fn(params, batch, rng, *, model, config):
    """Cross-entropy of ``model`` on ``batch = {"image": [B,H,W,C], "label": int [B]}``.

    An optional ``batch["mask"]`` (bool [B]) excludes padding rows from every metric.
    """
    del rng
    mask = batch.get("mask")
    logits = model.apply({"params": params}, batch["image"])
    per_example = losses.softmax_cross_entropy(
        logits, batch["label"], label_smoothing=config.get("label_smoothing", 0.0), where=mask
    )
    correct = (jnp.argmax(logits, -1) == batch["label"]).astype(jnp.float32)
    loss = masked_mean(per_example, mask)
    return loss, {"accuracy": masked_mean(correct, mask)}


def preprocess(config, *, train: bool):
    return make_image_transform(config.data, train=train)


def encoder_params(params):
    return params[ENCODER]
