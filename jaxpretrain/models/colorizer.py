"""Colorization network: lightness L in, colour out (Larsson et al. 2016, "Learning
Representations for Automatic Colorization"; Zhang et al. 2016, "Colorful Image Colorization").

Φ maps x = L [B, H, W, 1] to ŷ, either the ab channels [B, H, W, 2] (regression) or logits over
Q quantised ab bins [B, H, W, Q] (Zhang et al.'s classification). It is the inpainting generator's
shape of network without the bottleneck: a ``ConvEncoder`` (strided convolutions) and a
``ConvDecoder`` (up-convolutions) back to full resolution (with a per-pixel linear head for the
Q logits), so that a classifier can inherit the encoder the same way (``models.ConvEncoder`` with
``pool=True``). Zhang et al. use a VGG-style trunk with dilated convolutions at a quarter of the
resolution; this one is small enough for CPUs.
"""

from __future__ import annotations

from typing import Any, Sequence

import flax.linen as nn
import jax.numpy as jnp

from jaxpretrain.errors import InputError
from jaxpretrain.models.context_encoder import ConvDecoder, ConvEncoder

Array = Any


class Colorizer(nn.Module):
    """[B, H, W, 1] lightness -> [B, H, W, out_channels]; params {encoder, decoder[, head]}.

    Attributes:
      features: encoder stage widths; the decoder mirrors them.
      out_channels: 2 (ab regression) or Q (logits over ab bins).
      num_groups: GroupNorm groups.
      hidden: channels of the last up-convolution when a per-pixel linear head follows it
        (classification over Q bins); 0: the last up-convolution gives the outputs (regression).
    """

    features: Sequence[int] = (32, 64, 128)
    out_channels: int = 2
    num_groups: int = 8
    hidden: int = 0

    def setup(self):
        self.encoder = ConvEncoder(self.features, self.num_groups)
        # With a head, the up-convolutions end in `hidden` channels and a per-pixel linear layer
        # gives the outputs: Q = 261 logits from a 4x4 up-convolution would cost 16x more.
        self.decoder = ConvDecoder(
            tuple(self.features[:-1])[::-1], self.hidden or self.out_channels, self.num_groups
        )
        self.head = nn.Dense(self.out_channels) if self.hidden else None

    def __call__(self, lightness: Array) -> Array:
        lightness = jnp.asarray(lightness)
        if lightness.ndim != 4 or lightness.shape[-1] != 1:
            raise InputError(
                f"Colorizer expects the lightness channel [B, H, W, 1], got {lightness.shape}."
            )
        out = self.decoder(self.encoder(lightness))
        return self.head(nn.relu(out)) if self.head is not None else out
