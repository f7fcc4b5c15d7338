"""ResNet backbones with GroupNorm (He et al. 2016; Wu & He 2018; BiT 2020).

The residual block computes y = relu(x + F(x)) (He et al., "Deep Residual
Learning for Image Recognition", CVPR 2016, Eq. 1), with a projection shortcut
W_s·x (Eq. 2; a 1x1 conv + norm) when the block changes shape. Layouts follow
torchvision's ResNet v1.5: the stride sits on the 3x3 conv of a bottleneck, and
3x3/7x7 convs pad symmetrically (torch-style), so the published parameter
counts are matched exactly (ResNet-50: 25,557,032; ResNet-18: 11,689,512 with
a 1000-class head) and weights can be mapped one-to-one.

Normalisation is GroupNorm (Wu & He, "Group Normalization", ECCV 2018), as in
BiT (Kolesnikov et al., "Big Transfer", ECCV 2020), not BatchNorm. This is
deliberate: the library's model state is params only, with no mutable
``batch_stats`` collection, and GroupNorm is independent of batch size and of
how the batch is sharded. GroupNorm's scale+bias has the same parameter count
as BatchNorm's, so the counts above carry over.

The scale of the last norm in each residual branch starts at zero (Goyal et
al., "Accurate, Large Minibatch SGD", 2017, Sec. 5.1), so every block with an
identity shortcut starts as relu(x).
"""

from typing import Any, Sequence

import flax.linen as nn
import jax.numpy as jnp

from jaxpretrain.errors import InputError

Array = Any

# torchvision initialises convs with kaiming_normal_(mode="fan_out").
_conv_init = nn.initializers.variance_scaling(2.0, "fan_out", "normal")


def _groups(num_groups: int, channels: int) -> int:
    """Groups for a GroupNorm over ``channels``: min(num_groups, channels)."""
    groups = min(num_groups, channels)
    if num_groups < 1 or channels % groups:
        raise InputError(
            f"GroupNorm needs channels divisible by the group count: {channels} "
            f"channels, num_groups={num_groups} -> {groups} groups. Pick "
            "num_groups (or width) so every stage's channel count divides evenly."
        )
    return groups


def _conv(features: int, size: int, strides: int, dtype, name: str) -> nn.Conv:
    pad = (size - 1) // 2  # torch-style symmetric padding, also for stride 2
    return nn.Conv(
        features,
        (size, size),
        strides=(strides, strides),
        padding=((pad, pad), (pad, pad)),
        use_bias=False,
        kernel_init=_conv_init,
        dtype=dtype,
        name=name,
    )


def _norm(
    channels: int, num_groups: int, dtype, name: str, zero_scale: bool = False
) -> nn.GroupNorm:
    scale_init = nn.initializers.zeros if zero_scale else nn.initializers.ones
    return nn.GroupNorm(
        num_groups=_groups(num_groups, channels),
        epsilon=1e-5,
        scale_init=scale_init,
        dtype=dtype,
        name=name,
    )


class BasicBlock(nn.Module):
    """Two 3x3 convs (ResNet-18/34): [B, H, W, C] -> [B, H/s, W/s, features]."""

    features: int
    strides: int = 1
    num_groups: int = 32
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: Array) -> Array:
        f, g, dt = self.features, self.num_groups, self.dtype
        y = _conv(f, 3, self.strides, dt, "conv1")(x)
        y = nn.relu(_norm(f, g, dt, "norm1")(y))
        y = _conv(f, 3, 1, dt, "conv2")(y)
        y = _norm(f, g, dt, "norm2", zero_scale=True)(y)
        return nn.relu(_shortcut(x, f, self.strides, g, dt) + y)


class BottleneckBlock(nn.Module):
    """1x1 -> 3x3 (strided) -> 1x1 convs: [B, H, W, C] -> [B, H/s, W/s, 4·features]."""

    features: int
    strides: int = 1
    num_groups: int = 32
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: Array) -> Array:
        f, g, dt = self.features, self.num_groups, self.dtype
        y = nn.relu(_norm(f, g, dt, "norm1")(_conv(f, 1, 1, dt, "conv1")(x)))
        y = _conv(f, 3, self.strides, dt, "conv2")(y)
        y = nn.relu(_norm(f, g, dt, "norm2")(y))
        y = _conv(4 * f, 1, 1, dt, "conv3")(y)
        y = _norm(4 * f, g, dt, "norm3", zero_scale=True)(y)
        return nn.relu(_shortcut(x, 4 * f, self.strides, g, dt) + y)


def _shortcut(x: Array, out: int, strides: int, num_groups: int, dtype) -> Array:
    """Identity when shapes match, else the projection W_s·x (He et al. Eq. 2).

    Called inside a block's compact __call__, so its layers belong to that block.
    """
    if x.shape[-1] == out and strides == 1:
        return x
    x = _conv(out, 1, strides, dtype, "proj_conv")(x)
    return _norm(out, num_groups, dtype, "proj_norm")(x)


_BLOCKS = {"basic": (BasicBlock, 1), "bottleneck": (BottleneckBlock, 4)}
_STEMS = ("imagenet", "small")


class ResNet(nn.Module):
    """ResNet backbone returning global-average-pooled features.

    Attributes:
      stage_sizes: blocks per stage, e.g. (3, 4, 6, 3) for ResNet-50.
      width: channels of the stem and first stage; stage i has width·2**i
        (times 4 at the output of bottleneck blocks).
      block: "basic" (two 3x3 convs) or "bottleneck" (1x1-3x3-1x1, 4x output).
      stem: "imagenet" = 7x7/2 conv + 3x3/2 max-pool (4x downsampling);
        "small" = one 3x3/1 conv and no pool, for 8x8 digits or 32x32 CIFAR.
      num_groups: GroupNorm groups; each norm uses min(num_groups, channels),
        which must divide the channel count.
      dtype: compute dtype (e.g. jnp.bfloat16); params stay float32.
    """

    stage_sizes: Sequence[int]
    width: int = 64
    block: str = "basic"
    stem: str = "imagenet"
    num_groups: int = 32
    dtype: Any = jnp.float32

    @property
    def num_features(self) -> int:
        """D, the channel count of the pooled output."""
        return self.width * 2 ** (len(self.stage_sizes) - 1) * _BLOCKS[self.block][1]

    def _validate(self):
        if self.block not in _BLOCKS:
            raise InputError(f"block must be one of {sorted(_BLOCKS)}, got {self.block!r}.")
        if self.stem not in _STEMS:
            raise InputError(f"stem must be one of {_STEMS}, got {self.stem!r}.")
        if not self.stage_sizes or any(n < 1 for n in self.stage_sizes):
            raise InputError(
                f"stage_sizes must be non-empty positive block counts, "
                f"got {tuple(self.stage_sizes)}."
            )
        if self.width < 1:
            raise InputError(f"width must be positive, got {self.width}.")
        # Check every norm's channel count now, so a bad config fails in one
        # message before any layer is built.
        expansion = _BLOCKS[self.block][1]
        for i in range(len(self.stage_sizes)):
            for c in {self.width * 2**i, self.width * 2**i * expansion}:
                _groups(self.num_groups, c)

    @nn.compact
    def __call__(self, x: Array) -> Array:
        """Embeds images.

        Args:
          x: [B, H, W, C] floating images (already normalised).

        Returns:
          [B, D] float32 pooled features, D = ``num_features``.
        """
        self._validate()
        x = jnp.asarray(x)
        if x.ndim != 4:
            raise InputError(
                f"ResNet expects [B, H, W, C] images, got shape {x.shape} (rank {x.ndim})."
            )
        if not jnp.issubdtype(x.dtype, jnp.floating):
            raise InputError(
                f"ResNet expects floating images, got dtype {x.dtype}; "
                "convert and normalise integer pixels first."
            )
        x = x.astype(self.dtype)
        g, dt = self.num_groups, self.dtype

        if self.stem == "imagenet":
            x = _conv(self.width, 7, 2, dt, "stem_conv")(x)  # [B, H/2, W/2, width]
            x = nn.relu(_norm(self.width, g, dt, "stem_norm")(x))
            x = nn.max_pool(
                x, (3, 3), strides=(2, 2), padding=((1, 1), (1, 1))
            )  # [B, H/4, W/4, width]
        else:
            x = _conv(self.width, 3, 1, dt, "stem_conv")(x)  # [B, H, W, width]
            x = nn.relu(_norm(self.width, g, dt, "stem_norm")(x))

        block_cls = _BLOCKS[self.block][0]
        for i, num_blocks in enumerate(self.stage_sizes):
            for j in range(num_blocks):
                strides = 2 if i > 0 and j == 0 else 1
                x = block_cls(
                    self.width * 2**i,
                    strides=strides,
                    num_groups=g,
                    dtype=dt,
                    name=f"stage{i + 1}_block{j + 1}",
                )(x)
        # Pool in float32: a bfloat16 mean over many positions loses precision.
        return jnp.mean(x.astype(jnp.float32), axis=(1, 2))  # [B, D]


_VARIANTS = {
    "resnet18": dict(stage_sizes=(2, 2, 2, 2), block="basic"),
    "resnet34": dict(stage_sizes=(3, 4, 6, 3), block="basic"),
    "resnet50": dict(stage_sizes=(3, 4, 6, 3), block="bottleneck"),
    "resnet101": dict(stage_sizes=(3, 4, 23, 3), block="bottleneck"),
    "resnet152": dict(stage_sizes=(3, 8, 36, 3), block="bottleneck"),
    # For tests: two basic blocks on 8x8 inputs, a few thousand params.
    "resnet_tiny": dict(stage_sizes=(1, 1), block="basic", width=8, stem="small", num_groups=4),
}


def resnet(variant: str, **overrides) -> ResNet:
    """Builds a ResNet from a preset name, e.g. ``resnet("resnet50", dtype=jnp.bfloat16)``.

    Args:
      variant: one of "resnet18", "resnet34", "resnet50", "resnet101",
        "resnet152", "resnet_tiny".
      **overrides: ResNet fields replacing the preset's (e.g. stem="small").

    Returns:
      An unbound ResNet module.
    """
    if variant not in _VARIANTS:
        raise InputError(
            f"Unknown ResNet variant {variant!r}; known variants: {', '.join(_VARIANTS)}."
        )
    return ResNet(**{**_VARIANTS[variant], **overrides})
