"""Task heads over any backbone: a linear classifier on pooled features (BiT's fine-tuning head;
a linear probe when the backbone is frozen)."""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax.numpy as jnp

Array = Any


class Classifier(nn.Module):
    """A backbone plus a linear head: logits = h W + b, h = backbone(*inputs) [B, D].

    Params are {"backbone": ..., "head": {"kernel" [D, V], "bias" [V]}}, so a fine-tune inherits
    "backbone" from a pretraining run whose encoder has the same settings.

    Attributes:
      backbone: a module mapping the inputs to pooled [B, D] features (`backbones.backbone`).
      num_classes: V, the number of logits.
      head_zero_init: start the head's kernel at zero (as in BiT), so initial logits are all 0
        and the initial loss is ln V.
    """

    backbone: nn.Module
    num_classes: int
    head_zero_init: bool = True

    def setup(self):
        if self.num_classes < 1:
            raise ValueError(f"num_classes must be positive, got {self.num_classes}.")
        kernel_init = (
            nn.initializers.zeros if self.head_zero_init else nn.initializers.lecun_normal()
        )
        self.head = nn.Dense(self.num_classes, kernel_init=kernel_init, dtype=jnp.float32)

    def embed(self, *inputs: Array) -> Array:
        """The backbone's pooled features [B, D]; use via apply(method=...)."""
        return self.backbone(*inputs)

    def __call__(self, *inputs: Array) -> Array:
        """The backbone's inputs (e.g. images [B, H, W, C]) -> float32 logits [B, num_classes]."""
        return self.head(self.embed(*inputs).astype(jnp.float32))
