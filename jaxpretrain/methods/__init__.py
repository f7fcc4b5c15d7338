"""Pretraining and fine-tuning methods: one module each, all with the same interface.

A method module exports:
  make_model(config, dataset=None) -> nn.Module (or a dict of modules, one per player)
  init_params(rng, batch, *, model, config) -> params (``{player: subtree}`` for several players)
  loss_fn(params, batch, rng, *, model, config) -> (scalar loss, {name: scalar})
    or loss_fns = {player: loss_fn}, updated in this order by the one train step
  preprocess(config, *, train, dataset=None) -> per-example host transform
    ``(example, np_rng) -> example``, or None
  ENCODER: the '/'-separated path of the subtree a downstream fine-tune inherits ("" = all);
    required: ``init_from`` a run of a method without one is an error
  eval_metrics(params, batch, *, model, config) -> {name: scalar}   (optional)
  eval_outputs(params, batch, *, model, config) -> {name: [B] array} and
    split_metrics(outputs, *, config) -> {name: float}   (optional: scores of a whole split
    that are not means over examples, such as F1 or a correlation, from every real row's outputs
    gathered into [N] arrays; ``methods.scores``)
  pictures(params, batch, *, model, config) -> {name: [R, N, H, W, C] in [0, 1]}   (optional;
    drawn from the first eval batch at every evaluation, as PNG and TensorBoard images)
  draw_batch(batch, rng, *, model, config) -> batch   (optional: random preprocessing on the
    device, inside the jitted step, from a key split off the step's; the losses, ``sparse_rows``
    and ``eval_metrics`` see its output; evaluation draws with a fixed key; cbow's sampling)
  sparse_rows(batch, *, model, config) -> {table: int ids} and
    rows_loss_fn(rows, batch, rng, *, model, config)   (optional, embedding tables: with plain
    SGD the train step updates only the rows read; see ``train.step``)

``dataset`` is the ``jaxpretrain.data.Dataset`` that ``config.data`` names (train and eval
sources, tokenizer), which the trainer builds once (``data.load_dataset(config.data)``) and hands
to ``make_model`` and to both ``preprocess`` calls. Methods read no files and make no passes over
a corpus themselves: what they need of the data (cbow's vocabulary and subword bags, colorization's
ab-bin counts) comes from ``dataset`` or a cached function of it in ``jaxpretrain.data``. Most
methods ignore it; one that needs it raises a ValueError naming the fix when it is None.
"""

from __future__ import annotations

from types import ModuleType

from jaxpretrain.errors import ConfigError
from jaxpretrain.methods import (
    bert,
    cbow,
    colorization,
    cotraining,
    cpc,
    elmo,
    finetune,
    gpt2,
    hashtag,
    inpainting,
    rda,
    supervised,
    translation,
)

METHODS: dict[str, ModuleType] = {
    "supervised": supervised,
    "hashtag": hashtag,
    "finetune": finetune,
    "gpt2": gpt2,
    "bert": bert,
    "elmo": elmo,
    "translation": translation,
    "cbow": cbow,
    "cpc": cpc,
    "cotraining": cotraining,
    "inpainting": inpainting,
    "colorization": colorization,
    "rda": rda,
}


def get_method(name: str) -> ModuleType:
    if name not in METHODS:
        raise ConfigError(
            f"unknown method {name!r}; config.method must be one of {sorted(METHODS)}"
        )
    return METHODS[name]
