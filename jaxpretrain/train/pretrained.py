"""Where pretrained parameters come from: a jaxpretrain run, or Hugging Face weights.

One string names them, the config key `init_from` and the loaders' path argument alike:
- a jaxpretrain workdir (or its `checkpoints/` directory, or one step directory), read by
  `checkpoint`;
- `"hf:<dir>"`, a Hugging Face model directory, converted by the method's importer in
  `jaxpretrain.interop` (`interop.HF_IMPORTERS`).
This module is the only place that reads that string.
"""

from __future__ import annotations

import os
from typing import Any, NamedTuple

import ml_collections

from jaxpretrain.errors import CheckpointError, ConfigError
from jaxpretrain.interop import HF_IMPORTERS, import_hf
from jaxpretrain.methods import get_method
from jaxpretrain.train import checkpoint

HF_PREFIX = "hf:"


class Source(NamedTuple):
    """A parsed pretrained-weights string: `kind` "run" or "hf", and the `path` it names."""

    kind: str
    path: str


def parse(spec: str) -> Source:
    """The source `spec` names ("hf:<dir>" or a workdir path), checked to exist.

    Raises:
      CheckpointError: the path does not exist.
    """
    kind, path = ("hf", spec[len(HF_PREFIX) :]) if spec.startswith(HF_PREFIX) else ("run", spec)
    if not os.path.exists(path):
        what = "a Hugging Face model directory" if kind == "hf" else "a pretraining workdir"
        raise CheckpointError(f"{spec!r} does not exist; point it at {what}")
    return Source(kind, path)


def encoder_path(method_name: str) -> str:
    """`ENCODER` of a method: the '/'-separated path of the subtree a fine-tune inherits.

    Raises:
      ValueError: the method names no ENCODER, so nothing can be inherited from its runs.
    """
    encoder = getattr(get_method(method_name), "ENCODER", None)
    if not isinstance(encoder, str):
        raise ConfigError(
            f"method {method_name!r} names no ENCODER (the subtree a fine-tune inherits), so its "
            "runs cannot be used with init_from; give the method module an ENCODER."
        )
    return encoder


def init_params(
    params: Any, spec: str, *, method: str, subtree: str, backbone: str | None = None
) -> Any:
    """`params` with `subtree` filled from the pretrained source `spec` (the config's init_from).

    From a run, the inherited part is the `ENCODER` subtree of the method that trained it (read
    from the run's config.json; without one, the same path as `subtree`). From Hugging Face
    weights, `method`'s importer converts the whole model; a fine-tune (a method without an
    importer) uses the importer of the pretraining method its backbone is named after (the
    "bert" backbone: `interop.HF_IMPORTERS["bert"]`) and inherits that method's `ENCODER`.

    Args:
      params: the freshly initialised parameters of the model being trained.
      spec: "hf:<dir>" or a pretraining workdir (see `parse`).
      method: the method being trained (picks the Hugging Face importer).
      subtree: '/'-separated path in `params` that is replaced ("" = everything).
      backbone: the model's backbone name (`config.model.backbone`), if it has one.

    Raises:
      CheckpointError: listing every mismatched parameter path and shape.
    """
    source = parse(spec)
    if source.kind == "hf":
        importer = method if method in HF_IMPORTERS or backbone is None else backbone
        _, imported = import_hf(importer, source.path)
        return checkpoint.merge_pretrained(
            params,
            imported,
            subtree=subtree,
            source_subtree="" if importer == method else encoder_path(importer),
            source_name=f"Hugging Face checkpoint {spec!r}",
        )
    run_config = checkpoint.source_config(source.path)
    source_subtree = None if run_config is None else encoder_path(run_config["method"])
    return checkpoint.load_pretrained(
        params, source.path, subtree=subtree, source_subtree=source_subtree
    )


class Trained(NamedTuple):
    """What `load_model` returns.

    Attributes:
      model: the module, built from the run's config or the Hugging Face config.json.
      params: its parameters (host arrays).
      config: the run's config (`ml_collections.ConfigDict`); None for Hugging Face weights.
      directory: the run's workdir, or the Hugging Face directory (where tokenizers are).
    """

    model: Any
    params: Any
    config: ml_collections.ConfigDict | None
    directory: str


def load_model(spec: str, method: str, *, use: str) -> Trained:
    """The model and parameters a finished `method` run, or Hugging Face weights, hold.

    Args:
      spec: a workdir that trained `method`, or "hf:<dir>".
      method: the method the weights must belong to.
      use: what they are loaded for (e.g. "sampling"), named in the errors.

    Raises:
      CheckpointError: missing or unreadable weights.
      FileNotFoundError, ValueError: a workdir without config.json, or of another method.
    """
    source = parse(spec)
    if source.kind == "hf":
        model, params = import_hf(method, source.path)
        return Trained(model, params, None, source.path)
    config, params = checkpoint.load_run(source.path, method, use=use)
    config = ml_collections.ConfigDict(config)
    return Trained(get_method(method).make_model(config), params, config, source.path)
