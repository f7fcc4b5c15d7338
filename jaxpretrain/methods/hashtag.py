"""Multi-label "hashtag" pretraining (Mahajan et al. 2018, "Exploring the Limits of Weakly
Supervised Pretraining").

Each image carries a set of k tags, ``batch["tags"]`` [B, V] in {0, 1}. Two losses:
- ``config.loss = "softmax"`` (the paper's choice, which it found better): cross-entropy against
  the k-hot target spread uniformly, -Σ_v (y_v / k) log softmax(f(x))_v;
- ``config.loss = "sigmoid"``: V independent binary cross-entropies, Σ_v BCE(σ(f(x)_v), y_v).
Metric: precision@1, whether the top-scoring tag is one of the image's tags.
"""

from __future__ import annotations

import jax.numpy as jnp

from jaxpretrain import losses
from jaxpretrain.errors import ConfigError
from jaxpretrain.methods import supervised
from jaxpretrain.methods.common import masked_mean

ENCODER = supervised.ENCODER
make_model = supervised.make_model
init_params = supervised.init_params
preprocess = supervised.preprocess

_LOSSES = {"softmax": losses.khot_softmax_cross_entropy, "sigmoid": losses.multilabel_sigmoid}


def loss_fn(params, batch, rng, *, model, config):
    """Multi-label loss of the backbone's inputs (e.g. ``batch["image"]`` [B, H, W, C]) against
    ``batch["tags"]`` (float [B, V] in {0, 1})."""
    del rng
    if config.loss not in _LOSSES:
        raise ConfigError(f"config.loss must be one of {sorted(_LOSSES)}, got {config.loss!r}")
    mask = batch.get("mask")
    logits = model.apply({"params": params}, *supervised.inputs(batch, config))
    per_example = _LOSSES[config.loss](logits, batch["tags"], where=mask)
    top_tag_is_true = jnp.take_along_axis(batch["tags"], jnp.argmax(logits, -1)[:, None], -1)[:, 0]
    return masked_mean(per_example, mask), {"precision_at_1": masked_mean(top_tag_is_true, mask)}
