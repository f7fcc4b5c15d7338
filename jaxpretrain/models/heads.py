"""Task heads over any backbone: a linear classifier on pooled features (BiT's fine-tuning head;
a linear probe when the backbone is frozen)."""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from jaxpretrain.errors import InputError

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
      dropout_rate: dropout on the pooled features before the head (0.1 in BERT's fine-tuning,
        Devlin et al. 2019, App. A.3); active only with ``deterministic=False``.
      backbone_dropout: the backbone has dropout of its own and takes ``deterministic``.
    """

    backbone: nn.Module
    num_classes: int
    head_zero_init: bool = True
    dropout_rate: float = 0.0
    backbone_dropout: bool = False

    def setup(self):
        if self.num_classes < 1:
            raise InputError(f"num_classes must be positive, got {self.num_classes}.")
        kernel_init = (
            nn.initializers.zeros if self.head_zero_init else nn.initializers.lecun_normal()
        )
        self.head = nn.Dense(self.num_classes, kernel_init=kernel_init, dtype=jnp.float32)
        self.dropout = nn.Dropout(self.dropout_rate)

    def embed(self, *inputs: Array, deterministic: bool = True) -> Array:
        """The backbone's pooled features [B, D]; use via apply(method=...)."""
        if self.backbone_dropout:
            return self.backbone(*inputs, deterministic=deterministic)
        return self.backbone(*inputs)

    def __call__(self, *inputs: Array, deterministic: bool = True) -> Array:
        """The backbone's inputs (e.g. images [B, H, W, C]) -> float32 logits [B, num_classes].

        ``deterministic=False`` turns dropout on (needs a "dropout" rng)."""
        features = self.embed(*inputs, deterministic=deterministic).astype(jnp.float32)
        return self.head(self.dropout(features, deterministic=deterministic))
