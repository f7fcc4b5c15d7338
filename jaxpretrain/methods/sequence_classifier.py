"""Sequence classification on CPC's sequence backbone: the linear probe and its baselines.

The model is ``models.Classifier`` over ``models.cpc.SequenceBackbone(pooled=True)``: the
time-averaged context (or latents, ``config.model.pool``) and a linear head, trained with
softmax cross-entropy on ``batch = {"signal": float [B, T, C], "label": int [B]}``. Three runs of
one config give the comparison of van den Oord et al. 2018 (Sec. 3.1, linear classifiers on
frozen CPC features):
- linear probe of a CPC run: ``init_from=<cpc workdir>`` and ``optimizer.freeze="backbone"``;
- random-init probe: the same without ``init_from`` (the backbone stays at its initialisation);
- supervised encoder of the same size: no ``init_from`` and ``optimizer.freeze=""``.
"""

from __future__ import annotations

from jaxpretrain import models
from jaxpretrain.methods.common import classification_loss
from jaxpretrain.methods.cpc import sequence_backbone

ENCODER = "backbone"


def make_model(config, dataset=None) -> models.Classifier:
    del dataset
    return models.Classifier(
        backbone=sequence_backbone(config.model, pooled=True),
        num_classes=config.data.num_classes,
    )


def init_params(rng, batch, *, model, config):
    del config
    return model.init(rng, batch["signal"])["params"]


def loss_fn(params, batch, rng, *, model, config):
    """Mean cross-entropy (``batch["mask"]``, bool [B], excludes padding rows) and accuracy."""
    del rng, config
    logits = model.apply({"params": params}, batch["signal"])
    return classification_loss(logits, batch["label"], batch.get("mask"))


def preprocess(config, *, train: bool, dataset=None):
    del config, train, dataset
    return None  # MNIST-1D's signals are used as generated.


def encoder_params(params):
    return params[ENCODER]
