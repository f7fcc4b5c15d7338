"""Information-theoretic co-training models (McAllester 2018, "Information Theoretic
Co-Training", arXiv 1802.07572), on sequences: three players, one module each.

- ``CodeEncoder`` (Φ): CPC's ``SequenceBackbone`` (strided causal 1-D convs -> features h_t, a
  GRU -> context c_t) plus a linear code head, q_Φ(k|x_t) = softmax(W h_t + b)_k over K codes.
  The encoder owns the context network too: c_t is a function of x_≤t that the encoder chooses
  so that its own future codes are predictable (it minimises Ĥ(z|c), cooperatively with the
  conditional models), and the whole backbone (convs and GRU, the same parameters as CPC's) is
  what a linear probe inherits.
- ``MarginalModel`` (Ψ_m): P_Ψ(z) = softmax(ℓ), one learned logit per code, shared by every
  position: the model behind Ĥ(z), which the encoder plays against (it maximises Ĥ(z)).
- ``ConditionalModels`` (Ψ_c): P_Ψ(z_{t+Δt} | c_t) = softmax(V_Δt c_t + a_Δt), one linear head
  per offset Δt = 1..D reading the encoder's context: the models behind Ĥ(z|c). They own only
  the heads, so they cannot change what c_t knows, only how well it is read.

The losses live in ``methods.cotraining`` (``losses.cross_entropy_entropy``).
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from jaxpretrain.errors import InputError
from jaxpretrain.models.cpc import SequenceBackbone, check_offsets

Array = Any


def _check_codes(num_codes: int) -> None:
    if num_codes < 2:
        raise InputError(f"co-training needs K >= 2 codes, got K = {num_codes}.")


class CodeEncoder(nn.Module):
    """Φ: signals -> code logits and the context; params {"backbone": SequenceBackbone, "codes"}.

    Attributes:
      backbone: the sequence backbone, unpooled (returns (h [B, T', D], c [B, T', D_c])).
      num_codes: K.
    """

    backbone: SequenceBackbone
    num_codes: int

    @nn.compact
    def __call__(self, x: Array):
        """x: float [B, T, C] -> (code logits [B, T', K], context c [B, T', D_c])."""
        _check_codes(self.num_codes)
        h, c = self.backbone(x)
        return nn.Dense(self.num_codes, name="codes")(h), c


class MarginalModel(nn.Module):
    """P_Ψ(z): logits [K], zero-initialised (uniform: the first Ĥ(z) is exactly ln K).

    Attributes:
      num_codes: K.
    """

    num_codes: int

    @nn.compact
    def __call__(self) -> Array:
        _check_codes(self.num_codes)
        return self.param("logits", nn.initializers.zeros, (self.num_codes,))


class ConditionalModels(nn.Module):
    """P_Ψ(z_{t+Δt} | c_t) for Δt = 1..D: contexts [B, T', D_c] -> logits [D, B, T', K].

    Zero-initialised (uniform: the first Ĥ(z|c) is exactly ln K, the first Î exactly 0). The
    logits at t are for the code at t + Δt; the caller drops the last Δt positions.

    Attributes:
      num_codes: K.
      offsets: D, the largest offset Δt.
    """

    num_codes: int
    offsets: int

    @nn.compact
    def __call__(self, c: Array) -> Array:
        _check_codes(self.num_codes)
        if self.offsets < 1:
            raise InputError(f"co-training needs at least one offset Δt, got {self.offsets}.")
        if c.ndim != 3:
            raise InputError(f"ConditionalModels expect contexts [B, T', D_c], got {c.shape}.")
        check_offsets(c.shape[1], self.offsets, "an encoded sequence")
        shape = (self.offsets, c.shape[-1], self.num_codes)
        kernel = self.param("kernel", nn.initializers.zeros, shape)
        bias = self.param("bias", nn.initializers.zeros, (self.offsets, self.num_codes))
        return jnp.einsum("btc,dck->dbtk", c.astype(jnp.float32), kernel) + bias[:, None, None]
