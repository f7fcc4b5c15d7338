"""Context encoder and its DCGAN discriminator (Pathak et al. 2016, "Context Encoders: Feature
Learning by Inpainting", Sec. 3.1 and Fig. 2; Radford et al. 2016, "Unsupervised Representation
Learning with Deep Convolutional GANs", Sec. 3).

The generator F maps an image with a region removed, (1 − M̂) ⊙ x, to a full image ŷ:
- ``ConvEncoder``: strided 4x4 convolutions, each halving the resolution ([B, H, W, C] ->
  [B, H/2^S, W/2^S, D]); with ``pool=True`` it returns the mean over positions ([B, D]), which is
  how a classifier (``models.Classifier``) reuses it after pretraining;
- ``ChannelwiseFC``: the paper's channel-wise fully connected bottleneck: every channel is a dense
  layer over all positions of that channel (D·(hw)² weights instead of (D·hw)²), followed by a
  1x1 convolution that mixes the channels (Sec. 3.1);
- ``ConvDecoder``: 4x4 up-convolutions (transposed, stride 2) back to [B, H, W, C_out].

The discriminator (``Discriminator``) is the DCGAN one: strided convolutions with leaky ReLU and
one logit per image. Normalisation is GroupNorm rather than BatchNorm: model state here is
params only (see ``models.resnet``), and its statistics do not mix real and generated images.
"""

from __future__ import annotations

from typing import Any, Sequence

import flax.linen as nn
import jax.numpy as jnp

from jaxpretrain.errors import InputError

Array = Any


def _norm(channels: int, num_groups: int, name: str) -> nn.GroupNorm:
    groups = min(num_groups, channels)
    if channels % groups:
        raise InputError(
            f"GroupNorm needs channels divisible by the group count: {channels} channels, "
            f"num_groups={num_groups}; pick features that num_groups divides."
        )
    return nn.GroupNorm(num_groups=groups, name=name)


def _check_images(x: Array, stages: int, who: str) -> Array:
    x = jnp.asarray(x)
    if x.ndim != 4 or not jnp.issubdtype(x.dtype, jnp.floating):
        raise InputError(f"{who} expects floating [B, H, W, C] images, got {x.dtype}{x.shape}.")
    factor = 2**stages
    if x.shape[1] % factor or x.shape[2] % factor:
        raise InputError(
            f"{who}: image size {x.shape[1]}x{x.shape[2]} must be divisible by 2^{stages} = "
            f"{factor} (one halving per stage); resize the images (config.data.image_size)."
        )
    return x


class ConvEncoder(nn.Module):
    """Strided convolutions: [B, H, W, C] -> [B, H/2^S, W/2^S, features[-1]] (or pooled [B, D]).

    Attributes:
      features: output channels of each stride-2 stage (S = len(features) stages).
      num_groups: GroupNorm groups (the first stage has no norm, as in DCGAN).
      pool: return the mean over positions, [B, D], for a classifier.
    """

    features: Sequence[int] = (32, 64, 128)
    num_groups: int = 8
    pool: bool = False

    @property
    def num_features(self) -> int:
        return self.features[-1]

    @nn.compact
    def __call__(self, x: Array) -> Array:
        x = _check_images(x, len(self.features), "ConvEncoder")
        for i, width in enumerate(self.features):
            x = nn.Conv(width, (4, 4), strides=(2, 2), padding="SAME", name=f"conv{i + 1}")(x)
            if i:
                x = _norm(width, self.num_groups, f"norm{i + 1}")(x)
            x = nn.leaky_relu(x, 0.2)
        return jnp.mean(x, axis=(1, 2)) if self.pool else x


class ChannelwiseFC(nn.Module):
    """Per-channel dense layer over positions, then a 1x1 conv: [B, h, w, D] -> [B, h, w, D]."""

    @nn.compact
    def __call__(self, x: Array) -> Array:
        b, h, w, d = x.shape
        positions = h * w
        kernel = self.param(
            "kernel", nn.initializers.lecun_normal(batch_axis=(0,)), (d, positions, positions)
        )
        bias = self.param("bias", nn.initializers.zeros, (d, positions))
        flat = x.reshape(b, positions, d)  # [B, hw, D]
        y = jnp.einsum("bpd,dpq->bqd", flat, kernel) + bias.T  # [B, hw, D]
        y = nn.leaky_relu(y.reshape(b, h, w, d), 0.2)
        return nn.leaky_relu(nn.Conv(d, (1, 1), name="mix")(y), 0.2)


class ConvDecoder(nn.Module):
    """Up-convolutions: [B, h, w, D] -> [B, h·2^S, w·2^S, out_channels], S = len(features) + 1.

    Attributes:
      features: channels of the inner up-convolutions (e.g. the encoder's, reversed, minus the
        last); a final up-convolution gives ``out_channels``.
      out_channels: channels of the output (linear, no activation).
      num_groups: GroupNorm groups.
    """

    features: Sequence[int] = (64, 32)
    out_channels: int = 3
    num_groups: int = 8

    @nn.compact
    def __call__(self, x: Array) -> Array:
        for i, width in enumerate(self.features):
            x = nn.ConvTranspose(width, (4, 4), strides=(2, 2), padding="SAME", name=f"up{i + 1}")(
                x
            )
            x = nn.relu(_norm(width, self.num_groups, f"norm{i + 1}")(x))
        return nn.ConvTranspose(
            self.out_channels, (4, 4), strides=(2, 2), padding="SAME", name="out"
        )(x)


class ContextEncoder(nn.Module):
    """The generator F: encoder, channel-wise FC bottleneck, decoder; params {encoder, bottleneck,
    decoder}.

    Attributes:
      features: encoder stage widths; the decoder mirrors them.
      channels: C of the images.
      num_groups: GroupNorm groups.
    """

    features: Sequence[int] = (32, 64, 128)
    channels: int = 3
    num_groups: int = 8

    def setup(self):
        self.encoder = ConvEncoder(self.features, self.num_groups)
        self.bottleneck = ChannelwiseFC()
        self.decoder = ConvDecoder(tuple(self.features[:-1])[::-1], self.channels, self.num_groups)

    def __call__(self, x: Array) -> Array:
        """[B, H, W, C] context (missing pixels filled with 0) -> [B, H, W, C] predicted image."""
        if x.shape[-1] != self.channels:
            raise InputError(
                f"ContextEncoder built for {self.channels}-channel images got {x.shape}; set "
                "config.model.channels to the data's channel count."
            )
        return self.decoder(self.bottleneck(self.encoder(x)))


class Discriminator(nn.Module):
    """DCGAN discriminator: [B, H, W, C] images -> [B] logits of "real".

    Attributes:
      features: widths of the stride-2 convolutions (no norm on the first, as in DCGAN).
      num_groups: GroupNorm groups.
    """

    features: Sequence[int] = (32, 64, 128)
    num_groups: int = 8

    @nn.compact
    def __call__(self, x: Array) -> Array:
        x = ConvEncoder(self.features, self.num_groups, name="convs")(x)  # [B, h, w, D]
        return nn.Dense(1, name="logit")(x.reshape(x.shape[0], -1))[:, 0]  # [B]
