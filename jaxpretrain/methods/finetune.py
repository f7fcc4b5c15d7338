"""Fine-tuning a pretrained backbone on a downstream task with a new head.

The downstream model is the supervised classifier (``methods.supervised``): any registered
backbone (``config.model.backbone``: images, sequences, and text encoders as they come) plus a
linear head with ``config.data.num_classes`` outputs. Its ``config.init_subtree`` ("backbone")
comes from the pretraining run named by ``config.init_from`` (that run's method's ``ENCODER``
subtree) and the head starts from zero. ``config.optimizer.freeze = "backbone"`` trains the head
alone: a linear probe. The from-scratch baseline is the same config with
``method = "supervised"`` and no ``init_from`` (see ``scripts/compare.py``; He et al. 2019,
"Rethinking ImageNet Pre-training"); with ``freeze = "backbone"`` that is the random-init probe.
"""

from __future__ import annotations

from jaxpretrain.errors import ConfigError
from jaxpretrain.methods import supervised

ENCODER = supervised.ENCODER
init_params = supervised.init_params
loss_fn = supervised.loss_fn
eval_metrics = supervised.eval_metrics
eval_outputs = supervised.eval_outputs
split_metrics = supervised.split_metrics
preprocess = supervised.preprocess


def make_model(config, dataset=None):
    if not config.init_from:
        raise ConfigError(
            "method 'finetune' needs pretrained weights: pass --config.init_from=<pretraining workdir> "
            "(for the from-scratch baseline use --config.method=supervised)"
        )
    return supervised.make_model(config, dataset)
