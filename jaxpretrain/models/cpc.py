"""Contrastive Predictive Coding models (van den Oord et al. 2018, "Representation Learning with
Contrastive Predictive Coding", Fig. 1 and Secs. 3.1-3.2).

An encoder maps the input to latents z_t = g_enc(x_t), an autoregressive context network
summarises them, c_t = g_ar(z_≤t), and one bilinear predictor per offset scores candidates,
f_k(x_{t+k}, c_t) = exp(z_{t+k}ᵀ W_k c_t) (Eq. 3). The loss lives in ``methods.cpc``.

- Sequences (the audio setup, Sec. 3.1): ``SequenceBackbone`` = strided 1-D convolutions (z) and a
  GRU (c), [B, T, C] -> z [B, T', D], c [B, T', D_c] with T' = floor(T / Π strides). The
  convolutions are causal (left padding), so c_t has seen no input later than frame t.
- Images (Sec. 3.2): ``PatchEncoder`` cuts an overlapping grid of patches and embeds each with a
  ResNet, mean-pooled: [B, H, W, C] -> z [B, R, S, D] (R rows, S columns of patches);
  ``MaskedContext`` is a PixelCNN-style stack of convolutions whose output at row r sees only the
  rows <= r, so c [B, R, S, D_c] can predict the rows below, z_{r+k}.
- ``Predictors``: W_k for k = 1..K, one [D_c, D] matrix each, as a [K, D_c, D] parameter.

With ``pooled=True`` the backbones return [B, D] features for a linear probe instead.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import flax.linen as nn
import jax.numpy as jnp

from jaxpretrain.errors import InputError

Array = Any

_POOLS = ("context", "last", "encoder", "both")


class SequenceBackbone(nn.Module):
    """Strided 1-D conv encoder + GRU context network (CPC's audio model, scaled by its config).

    Attributes:
      features: D, channels of every conv layer (the latents z_t).
      kernels: kernel size of each conv layer.
      strides: stride of each conv layer (same length as ``kernels``).
      context_features: D_c, the GRU's width (the context c_t).
      pooled: return the probe's [B, D_p] features instead of (z, c).
      pool: what the probe sees: the time-mean of "context" (c, D_p = D_c), of "encoder" (z,
        D_p = D) or of "both" (concatenated, D_p = D + D_c), or the "last" context c_T'.
    """

    features: int = 64
    kernels: Sequence[int] = (2, 2, 1)
    strides: Sequence[int] = (2, 2, 1)
    context_features: int = 64
    pooled: bool = False
    pool: str = "both"

    def downsampling(self) -> int:
        return math.prod(self.strides)

    @nn.compact
    def __call__(self, x: Array):
        """x: float [B, T, C] -> (z [B, T', D], c [B, T', D_c]), or [B, D_p] if pooled."""
        if len(self.kernels) != len(self.strides) or not self.kernels:
            raise InputError(
                f"SequenceBackbone needs one stride per kernel, got kernels {tuple(self.kernels)} "
                f"and strides {tuple(self.strides)}."
            )
        if self.pool not in _POOLS:
            raise InputError(f"pool must be one of {_POOLS}, got {self.pool!r}.")
        if x.ndim != 3:
            raise InputError(f"SequenceBackbone expects [B, T, C] signals, got shape {x.shape}.")
        if any(k < s for k, s in zip(self.kernels, self.strides)):
            raise InputError(
                f"SequenceBackbone kernels {tuple(self.kernels)} must be >= their strides "
                f"{tuple(self.strides)}, or inputs between frames would be skipped."
            )
        z = x.astype(jnp.float32)
        for i, (kernel, stride) in enumerate(zip(self.kernels, self.strides)):
            # Causal: pad k - s on the left only, so frame t's window ends with its own stride
            # and c_t has seen no input later than frame t.
            conv = nn.Conv(
                self.features, (kernel,), strides=(stride,), padding=((kernel - stride, 0),),
                name=f"conv{i}",
            )  # fmt: skip
            z = nn.relu(conv(z))
        c = nn.RNN(nn.GRUCell(self.context_features), name="gru")(z)  # [B, T', D_c]
        if not self.pooled:
            return z, c
        if self.pool == "last":
            return c[:, -1]
        pooled = {"context": (c,), "encoder": (z,), "both": (z, c)}[self.pool]
        return jnp.concatenate([jnp.mean(f, axis=1) for f in pooled], axis=-1)


def patch_grid(height: int, width: int, patch: int, stride: int) -> tuple[int, int]:
    """(R, S): rows and columns of ``patch``-sized patches, ``stride`` apart, in an image."""
    if patch < 1 or stride < 1:
        raise InputError(f"patch size and stride must be positive, got {patch}, {stride}.")
    if height < patch or width < patch:
        raise InputError(
            f"image {height}x{width} is smaller than one {patch}x{patch} patch; use larger images "
            "or a smaller model.patch_size."
        )
    return (height - patch) // stride + 1, (width - patch) // stride + 1


class PatchEncoder(nn.Module):
    """A ResNet applied to each patch of an overlapping grid (CPC Sec. 3.2: 7x7 patches of 64
    px with stride 32 on 256-px images).

    Attributes:
      resnet: module mapping [N, P, P, C] patches to mean-pooled [N, D] vectors.
      patch_size: P.
      patch_stride: pixels between neighbouring patches (P/2 for half-overlapping ones).
      pooled: return the grid's mean, [B, D] (the linear probe's features).
    """

    resnet: nn.Module
    patch_size: int
    patch_stride: int
    pooled: bool = False

    def __call__(self, images: Array) -> Array:
        """images: float [B, H, W, C] -> z [B, R, S, D], or [B, D] if pooled."""
        if images.ndim != 4:
            raise InputError(f"PatchEncoder expects [B, H, W, C] images, got {images.shape}.")
        B, H, W, C = images.shape
        p, s = self.patch_size, self.patch_stride
        R, S = patch_grid(H, W, p, s)
        rows = jnp.stack([images[:, r * s : r * s + p] for r in range(R)], 1)  # [B, R, P, W, C]
        patches = jnp.stack([rows[:, :, :, j * s : j * s + p] for j in range(S)], 2)
        z = self.resnet(patches.reshape(B * R * S, p, p, C))  # [B*R*S, D]
        z = z.reshape(B, R, S, -1)
        return jnp.mean(z, axis=(1, 2)) if self.pooled else z


class MaskedContext(nn.Module):
    """PixelCNN-style context over a grid: output row r depends only on input rows <= r.

    Each layer is a residual conv whose kernel covers ``kernel`` rows ending at the current one
    (padding only above) and ``kernel`` columns centred on it; stacking keeps the mask.

    Attributes:
      features: D_c.
      num_layers: residual conv layers.
      kernel: kernel height and width (odd).
    """

    features: int = 256
    num_layers: int = 3
    kernel: int = 3

    @nn.compact
    def __call__(self, z: Array) -> Array:
        """z: float [B, R, S, D] -> c [B, R, S, D_c]."""
        k = self.kernel
        if k < 1 or k % 2 == 0:
            raise InputError(f"MaskedContext kernel must be odd and positive, got {k}.")
        # Rows: k-1 above, none below (the causal mask); columns: centred.
        padding = ((k - 1, 0), ((k - 1) // 2, (k - 1) // 2))
        c = nn.Dense(self.features, name="input")(z.astype(jnp.float32))
        for i in range(self.num_layers):
            h = nn.Conv(self.features, (k, k), padding=padding, name=f"conv{i}_a")(nn.relu(c))
            h = nn.Conv(self.features, (1, 1), name=f"conv{i}_b")(nn.relu(h))
            c = c + h
        return c


class Predictors(nn.Module):
    """W_k c_t for k = 1..K: [..., D_c] contexts -> [K, ..., D] predicted latents.

    Attributes:
      offsets: K.
      features: D, the latents' width.
    """

    offsets: int
    features: int

    @nn.compact
    def __call__(self, c: Array) -> Array:
        if self.offsets < 1:
            raise InputError(f"CPC needs at least one prediction offset, got K = {self.offsets}.")
        # Zero: every candidate starts equally likely, so the first loss is K ln(N+1) exactly.
        w = self.param("kernel", nn.initializers.zeros, (self.offsets, c.shape[-1], self.features))
        return jnp.einsum("...c,kcd->k...d", c.astype(jnp.float32), w)


def check_offsets(steps: int, offsets: int, what: str) -> None:
    """At least one (t, t+K) pair: the encoded length must exceed the largest offset."""
    if steps <= offsets:
        raise InputError(
            f"{what} of {steps} steps is too short for the largest offset K = {offsets}; use "
            "longer inputs, less downsampling or a smaller model.offsets."
        )


class CPCSequence(nn.Module):
    """CPC on sequences; params {"backbone": SequenceBackbone, "predictors": [K, D_c, D]}."""

    backbone: SequenceBackbone
    offsets: int

    @nn.compact
    def __call__(self, x: Array):
        """x [B, T, C] -> z [B, T', D], c [B, T', D_c], predictions [K, B, T', D]."""
        if x.ndim == 3:  # Else the backbone names the problem.
            steps = x.shape[1] // self.backbone.downsampling()
            check_offsets(steps, self.offsets, f"a sequence of {x.shape[1]} samples, encoded,")
        z, c = self.backbone(x)
        return z, c, Predictors(self.offsets, z.shape[-1], name="predictors")(c)


class CPCVision(nn.Module):
    """CPC on images; params {"backbone": PatchEncoder, "context": MaskedContext,
    "predictors": [K, D_c, D]}."""

    backbone: PatchEncoder
    context: MaskedContext
    offsets: int

    @nn.compact
    def __call__(self, images: Array):
        """images [B, H, W, C] -> z [B, R, S, D], c [B, R, S, D_c], predictions [K, B, R, S, D]."""
        z = self.backbone(images)
        check_offsets(z.shape[1], self.offsets, "a patch grid")
        c = self.context(z)
        return z, c, Predictors(self.offsets, z.shape[-1], name="predictors")(c)
