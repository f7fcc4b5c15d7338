"""Backbones by name: the encoders that a classifier head, or a pretraining method, builds from
`config.model`.

`config.model.backbone` names an entry of `BACKBONES`; the block's other fields are that
encoder's settings (list values become tuples, a `dtype` string a dtype: `module_fields`). An
entry gives the module and the batch keys it reads, in call order, so that a method feeds any
backbone without knowing what it is:

| name             | module                                          | reads      | pooled output |
|------------------|-------------------------------------------------|------------|---------------|
| "resnet"         | `resnet(variant, ...)`, GroupNorm ResNet        | "image"    | [B, D]        |
| "resnet_patches" | a ResNet per patch of a grid (`cpc.PatchEncoder`) | "image"  | [B, D]        |
| "conv_encoder"   | `context_encoder.ConvEncoder` (inpainting, colorization) | "image" | [B, D] |
| "rda_encoder"    | `rda.GaussianEncoder` over a `ConvEncoder` (the RDA's) | "image" | [B, D] = μ |
| "rda_dense_encoder" | `rda.GaussianEncoder` over a `rda.DenseTrunk` (MLP; linear without widths) | "signal" | [B, D] = μ |
| "cpc_sequence"   | `cpc.SequenceBackbone`, 1-D convs + GRU         | "signal"   | [B, D]        |
| "bert"           | `bert_encoder(variant, ...)`, `bert.BertEncoder` | "tokens", "token_types", "valid" | [B, D] |
| "elmo"           | `elmo.ElmoEncoder`: a `BiLM` + `ScalarMix`, mean over words | "chars" | [B, 2P] |
| "word_mean"      | `word_vectors.WordVectorMean`, mean of CBOW vectors | "words"     | [B, D]        |

With `pooled=False` an encoder returns its positions instead (the feature map, the patch grid,
(z, c) over time, BERT's and ELMo's [B, T, D] sequence output), which CPC's predictors need; the
RDA encoders return (μ, ln σ), the noisy channel's parameters.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, NamedTuple

import flax.linen as nn

from jaxpretrain.errors import InputError
from jaxpretrain.models.bert import bert_encoder
from jaxpretrain.models.common import module_fields
from jaxpretrain.models.context_encoder import ConvEncoder
from jaxpretrain.models.cpc import PatchEncoder, SequenceBackbone
from jaxpretrain.models.elmo import BiLM, ElmoEncoder
from jaxpretrain.models.rda import DenseTrunk, GaussianEncoder
from jaxpretrain.models.resnet import resnet
from jaxpretrain.models.word_vectors import WordVectorMean


class Backbone(NamedTuple):
    """A registry entry: `build(fields, pooled) -> nn.Module`, the batch keys it reads, and
    whether it has dropout of its own (then it takes a `deterministic` keyword)."""

    build: Callable[[dict[str, Any], bool], nn.Module]
    inputs: tuple[str, ...]
    dropout: bool = False


def _resnet(fields: dict[str, Any], pooled: bool) -> nn.Module:
    del pooled  # A ResNet always ends in its mean over positions.
    return resnet(fields.pop("variant"), **fields)


def _resnet_patches(fields: dict[str, Any], pooled: bool) -> nn.Module:
    patch_size, patch_stride = fields.pop("patch_size"), fields.pop("patch_stride")
    return PatchEncoder(_resnet(fields, pooled), patch_size, patch_stride, pooled=pooled)


def _conv_encoder(fields: dict[str, Any], pooled: bool) -> nn.Module:
    return ConvEncoder(**fields, pool=pooled)


def _rda_encoder(fields: dict[str, Any], pooled: bool) -> nn.Module:
    trunk = ConvEncoder(fields.pop("features"), fields.pop("num_groups", 8))
    return GaussianEncoder(trunk, **fields, pooled=pooled)


def _rda_dense_encoder(fields: dict[str, Any], pooled: bool) -> nn.Module:
    return GaussianEncoder(DenseTrunk(fields.pop("features")), **fields, pooled=pooled)


def _cpc_sequence(fields: dict[str, Any], pooled: bool) -> nn.Module:
    return SequenceBackbone(**fields, pooled=pooled)


def _bert(fields: dict[str, Any], pooled: bool) -> nn.Module:
    return bert_encoder(fields.pop("variant"), **fields, pooled=pooled)


def _elmo(fields: dict[str, Any], pooled: bool) -> nn.Module:
    mix_layer_norm = fields.pop("mix_layer_norm", False)
    return ElmoEncoder(BiLM(**fields), mix_layer_norm=mix_layer_norm, pooled=pooled)


def _word_mean(fields: dict[str, Any], pooled: bool) -> nn.Module:
    del pooled  # Always the mean over the words.
    return WordVectorMean(**fields)


BACKBONES: dict[str, Backbone] = {
    "bert": Backbone(_bert, ("tokens", "token_types", "valid"), dropout=True),
    "resnet": Backbone(_resnet, ("image",)),
    "resnet_patches": Backbone(_resnet_patches, ("image",)),
    "conv_encoder": Backbone(_conv_encoder, ("image",)),
    "cpc_sequence": Backbone(_cpc_sequence, ("signal",)),
    "rda_encoder": Backbone(_rda_encoder, ("image",)),
    "rda_dense_encoder": Backbone(_rda_dense_encoder, ("signal",)),
    "elmo": Backbone(_elmo, ("chars",)),
    "word_mean": Backbone(_word_mean, ("words",)),
}


def _entry(model_config: Mapping[str, Any]) -> Backbone:
    name = model_config.get("backbone")
    if name not in BACKBONES:
        raise InputError(
            f"unknown backbone {name!r} in config.model.backbone; registered: "
            f"{', '.join(sorted(BACKBONES))}."
        )
    return BACKBONES[name]


def backbone(model_config: Mapping[str, Any], *, pooled: bool = True) -> nn.Module:
    """The encoder `model_config.backbone` names, with the block's other fields as settings.

    Args:
      model_config: `config.model` (a ConfigDict or dict) with a `backbone` key.
      pooled: [B, D] features (a classifier's input); False: the encoder's positions.

    Raises:
      ValueError: an unknown backbone name (the message lists the registered ones); a field
        the encoder does not take is the encoder's own TypeError.
    """
    return _entry(model_config).build(module_fields(model_config, drop=("backbone",)), pooled)


def backbone_inputs(model_config: Mapping[str, Any]) -> tuple[str, ...]:
    """The batch keys the backbone of `model_config` reads, in call order, e.g. ("image",)."""
    return _entry(model_config).inputs


def backbone_has_dropout(model_config: Mapping[str, Any]) -> bool:
    """Whether the backbone of `model_config` has dropout (and takes `deterministic`)."""
    return _entry(model_config).dropout
