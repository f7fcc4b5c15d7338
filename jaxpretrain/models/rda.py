"""The noisy-channel rate-distortion autoencoder (TTIC 31230, "Noisy Channel RDAs"; Ballé et al.
2017; Kingma & Welling 2014) and its discriminator: "an RDA with a discrimination distortion, or a
GAN with a rate-distortion objective".

- ``GaussianEncoder``: y -> (μ_Φ(y), ln σ_Φ(y)), [B, D] each, over a trunk (the strided
  ``ConvEncoder`` for images, ``DenseTrunk`` for signals and vectors; ``DenseTrunk(())`` makes it
  linear), with σ = σ_min + softplus(·) ≥ σ_min. As a backbone (``pooled=True``) it returns μ.
- ``ImageDecoder`` / ``DenseDecoder``: z [B, D'] -> ŷ [B, *shape] (the image decoder mirrors the
  encoder: a dense projection to the bottleneck grid, then ``ConvDecoder``'s up-convolutions).
- ``GaussianPrior``: P_Φ(z|x) = N(μ_p(x), σ_p(x)²), one learned Gaussian per class x (one class: the
  optional learned unconditional prior p̂(z)); starts at N(0, I).
- ``RDA``: encoder, channel z = μ + σ·ε (ε given by the caller), decoder, prior. With
  ``num_classes`` K > 0 it is the class-conditional RDA: the prior is P_Φ(z|x) and the decoder
  reads [z, onehot(x)].
- ``ConditionalDiscriminator``: a discriminator body (``Discriminator`` for images,
  ``DenseDiscriminator`` otherwise) whose input carries onehot(x) as extra channels when K > 0.

``PARTS`` maps the encoder's backbone name to its decoder and discriminator builders.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Mapping, NamedTuple, Optional, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxpretrain.models.context_encoder import ConvDecoder, Discriminator

Array = Any


class DenseTrunk(nn.Module):
    """[B, ...] -> [B, features[-1]]: flatten, then Dense + ReLU per width (none: identity)."""

    features: Sequence[int] = (256,)

    @nn.compact
    def __call__(self, x: Array) -> Array:
        x = x.reshape(x.shape[0], -1)
        for i, width in enumerate(self.features):
            x = nn.relu(nn.Dense(width, name=f"dense{i + 1}")(x))
        return x


class GaussianEncoder(nn.Module):
    """y [B, ...] -> (μ, ln σ) [B, D], σ = σ_min + softplus(a(y)) (or μ alone when ``pooled``).

    Attributes:
      trunk: the feature extractor (its output is flattened per example).
      latent: D.
      min_scale: σ_min > 0, the channel's noise floor (ln σ stays finite).
      pooled: return μ only: the features a downstream classifier reads.
    """

    trunk: nn.Module
    latent: int = 32
    min_scale: float = 1e-3
    pooled: bool = False

    @nn.compact
    def __call__(self, y: Array):
        h = self.trunk(y)
        h = h.reshape(h.shape[0], -1)
        mean = nn.Dense(self.latent, name="mean")(h)
        scale = nn.Dense(self.latent, name="scale")(h)
        log_scale = jnp.log(self.min_scale + nn.softplus(scale))
        return mean if self.pooled else (mean, log_scale)


class ImageDecoder(nn.Module):
    """z [B, D'] -> [B, H, W, C]: Dense to the encoder's [H/2^S, W/2^S, features[-1]] grid, ReLU,
    then ``ConvDecoder`` (S = len(features) up-convolutions, the last to C channels).

    Attributes:
      features: the encoder's stage widths (mirrored).
      num_groups: GroupNorm groups.
    """

    features: Sequence[int] = (32, 64, 128)
    num_groups: int = 8

    @nn.compact
    def __call__(self, z: Array, shape: tuple) -> Array:
        h, w, c = shape
        factor = 2 ** len(self.features)
        grid = (h // factor, w // factor, self.features[-1])
        x = nn.relu(nn.Dense(math.prod(grid), name="project")(z)).reshape(-1, *grid)
        inner = tuple(self.features[:-1])[::-1]
        return ConvDecoder(inner, c, self.num_groups, name="convs")(x)


class DenseDecoder(nn.Module):
    """z [B, D'] -> [B, *shape]: Dense + ReLU per width of ``features`` reversed, then a linear
    Dense to prod(shape) (no widths: a linear decoder)."""

    features: Sequence[int] = (256,)

    @nn.compact
    def __call__(self, z: Array, shape: tuple) -> Array:
        for i, width in enumerate(tuple(self.features)[::-1]):
            z = nn.relu(nn.Dense(width, name=f"dense{i + 1}")(z))
        return nn.Dense(math.prod(shape), name="out")(z).reshape(-1, *shape)


class DenseDiscriminator(nn.Module):
    """[B, ...] -> [B] logits of "real": flatten, Dense + leaky ReLU per width, Dense(1)."""

    features: Sequence[int] = (256,)

    @nn.compact
    def __call__(self, x: Array) -> Array:
        x = x.reshape(x.shape[0], -1)
        for i, width in enumerate(self.features):
            x = nn.leaky_relu(nn.Dense(width, name=f"dense{i + 1}")(x), 0.2)
        return nn.Dense(1, name="logit")(x)[:, 0]


def with_class(x: Array, label: Array, num_classes: int) -> Array:
    """[B, ..., C] with onehot(label) [B, K] appended to the last axis at every position:
    [B, ..., C + K] (the conditional GAN's input, Mirza & Osindero 2014)."""
    onehot = jax.nn.one_hot(label, num_classes, dtype=x.dtype)
    onehot = onehot.reshape((x.shape[0],) + (1,) * (x.ndim - 2) + (num_classes,))
    return jnp.concatenate([x, jnp.broadcast_to(onehot, x.shape[:-1] + (num_classes,))], -1)


class ConditionalDiscriminator(nn.Module):
    """D(y | x): ``body`` on y with onehot(x) appended as channels; plain D(y) when K = 0.

    Attributes:
      body: [B, ...] -> [B] logits.
      num_classes: K; 0: unconditional (``label`` ignored).
    """

    body: nn.Module
    num_classes: int = 0

    def __call__(self, y: Array, label: Optional[Array] = None) -> Array:
        if self.num_classes:
            y = with_class(y, label, self.num_classes)
        return self.body(y)


class GaussianPrior(nn.Module):
    """label [B] -> (μ_p, ln σ_p) [B, D]: a learned Gaussian per class, initialised to N(0, I).

    Attributes:
      num_classes: K (1: one learned prior for every example, label 0).
      latent: D.
    """

    num_classes: int
    latent: int

    @nn.compact
    def __call__(self, label: Array) -> tuple[Array, Array]:
        table = nn.Embed(
            self.num_classes, 2 * self.latent, embedding_init=nn.initializers.zeros, name="table"
        )(label)
        return table[:, : self.latent], table[:, self.latent :]


class RDAOutput(NamedTuple):
    """One pass through the channel: μ, ln σ, z [B, D]; ŷ [B, ...]; the prior's μ_p, ln σ_p
    ([B, D], or None for p̂ = N(0, I))."""

    mean: Array
    log_scale: Array
    z: Array
    reconstruction: Array
    prior_mean: Optional[Array]
    prior_log_scale: Optional[Array]


class RDA(nn.Module):
    """The noisy-channel RDA: params {encoder, decoder[, prior]}.

    Attributes:
      encoder: a ``GaussianEncoder`` (unpooled).
      decoder: z [B, D'] (and the output shape) -> ŷ.
      num_classes: K > 0: class-conditional (prior P_Φ(z|x), decoder reads onehot(x)); 0: not.
      learned_prior: unconditional only: learn p̂(z) = N(μ_p, σ_p²) instead of N(0, I).
    """

    encoder: nn.Module
    decoder: nn.Module
    num_classes: int = 0
    learned_prior: bool = False

    def setup(self):
        classes = self.num_classes or (1 if self.learned_prior else 0)
        self.prior = GaussianPrior(classes, self.encoder.latent) if classes else None

    def prior_of(self, label: Optional[Array], batch: int):
        """(μ_p, ln σ_p) [B, D] of the prior (class ``label`` when conditional), or (None, None)."""
        if self.prior is None:
            return None, None
        return self.prior(label if self.num_classes else jnp.zeros((batch,), jnp.int32))

    def decode(self, z: Array, label: Optional[Array], shape: tuple) -> Array:
        """ŷ [B, *shape] from z [B, D] (and the class when conditional)."""
        if self.num_classes:
            z = with_class(z, label, self.num_classes)
        return self.decoder(z, shape)

    def __call__(self, y: Array, label: Optional[Array], noise: Array) -> RDAOutput:
        """y [B, ...], label int [B] (or None), noise ε [B, D] -> the channel's ``RDAOutput``."""
        mean, log_scale = self.encoder(y)
        z = mean + jnp.exp(log_scale) * noise
        prior_mean, prior_log_scale = self.prior_of(label, y.shape[0])
        reconstruction = self.decode(z, label, y.shape[1:])
        return RDAOutput(mean, log_scale, z, reconstruction, prior_mean, prior_log_scale)

    def sample(self, label: Optional[Array], noise: Array, shape: tuple) -> Array:
        """Decoded draws z ~ prior (z = μ_p + σ_p ε; ε [B, D]): [B, *shape]."""
        prior_mean, prior_log_scale = self.prior_of(label, noise.shape[0])
        z = noise if prior_mean is None else prior_mean + jnp.exp(prior_log_scale) * noise
        return self.decode(z, label, shape)


class Parts(NamedTuple):
    """How an RDA over an encoder backbone decodes and discriminates: builders from
    (the encoder's ``config.model`` block, discriminator widths)."""

    decoder: Callable[[Mapping[str, Any]], nn.Module]
    discriminator: Callable[[Mapping[str, Any], Sequence[int]], nn.Module]


PARTS: dict[str, Parts] = {
    "rda_encoder": Parts(
        lambda m: ImageDecoder(tuple(m["features"]), m.get("num_groups", 8)),
        lambda m, widths: Discriminator(tuple(widths), m.get("num_groups", 8)),
    ),
    "rda_dense_encoder": Parts(
        lambda m: DenseDecoder(tuple(m["features"])),
        lambda m, widths: DenseDiscriminator(tuple(widths)),
    ),
}
