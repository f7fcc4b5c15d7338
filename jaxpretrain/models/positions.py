"""Position encodings: sinusoidal (Vaswani et al. 2017 §3.5), the lecture's dials, learned tables.

Sinusoidal (Vaswani et al., "Attention Is All You Need", 2017, §3.5):

    PE[t, 2i]   = sin(t / 10000^{2i/D})
    PE[t, 2i+1] = cos(t / 10000^{2i/D})

Dials (the lecture): position t is a set of clock hands z_d(t) = e^{i 2^d ω t}, d = 0..n-1, each
turning twice as fast as the one before, like the bits of a binary counter. Their defining
properties, which the tests check:

    |z_d(t)| = 1                                   (a hand on a unit circle)
    z_{d+1}(t) = z_d(t)²                           (angle of dial d+1 = 2 × angle of dial d, mod 2π)
    z_d(t + Δ) = z_d(t) · e^{i 2^d ω Δ}            (a shift by Δ is the same rotation at every t,
                                                    so relative position is a fixed linear map)

We choose ω = 2π / 2^n: the slowest dial (d = 0) turns once every 2^n steps and the fastest
(d = n-1) turns by π every step, flipping like the least significant bit. Dial d has period
2^{n-d}, the period of bit n-1-d of a counter, so the encoding has period 2^n and positions
0..2^n-1 are pairwise distinct (dial 0 alone already tells them apart).

Learned positions (GPT-2, Radford et al. 2019; BERT, Devlin et al. 2019): a trainable table
[max_length, D] indexed by position, initialised from N(0, 0.02²).
"""

import math
from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxpretrain.errors import InputError

Array = Any


def sinusoidal_positions(length: int, features: int, *, max_wavelength: float = 10000.0) -> Array:
    """The sinusoidal encoding of Vaswani et al. §3.5, sin and cos interleaved.

    Args:
      length: T, the number of positions 0..T-1.
      features: D, the width; must be even.
      max_wavelength: the base 10000 of the geometric progression of wavelengths (2π to 2π·base).

    Returns:
      float32 [T, D] with PE[t, 2i] = sin(t / base^{2i/D}) and PE[t, 2i+1] = cos(t / base^{2i/D}).
    """
    if length < 0 or features < 2 or features % 2:
        raise InputError(
            f"sinusoidal_positions needs length >= 0 and an even width >= 2, got length={length}, "
            f"features={features}."
        )
    # A constant of static shape: computed in float64 numpy so large t keep their precision.
    t = np.arange(length, dtype=np.float64)[:, None]  # [T, 1]
    inv_freq = max_wavelength ** (-np.arange(0, features, 2, dtype=np.float64) / features)
    angle = t * inv_freq[None, :]  # [T, D/2]
    pe = np.stack([np.sin(angle), np.cos(angle)], axis=-1)  # [T, D/2, 2]
    return jnp.asarray(pe.reshape(length, features), jnp.float32)  # [T, D]


def default_dial_omega(num_dials: int) -> float:
    """ω = 2π / 2^n: the slowest of n dials turns once every 2^n positions."""
    return 2.0 * math.pi / 2.0**num_dials


def _dial_angles(length: int, num_dials: int, omega: float | None) -> np.ndarray:
    if length < 0 or num_dials < 1:
        raise InputError(
            f"dials need length >= 0 and num_dials >= 1, got length={length}, "
            f"num_dials={num_dials}."
        )
    omega = default_dial_omega(num_dials) if omega is None else float(omega)
    t = np.arange(length, dtype=np.float64)[:, None]  # [T, 1]
    speed = omega * 2.0 ** np.arange(num_dials, dtype=np.float64)  # [n]: 2^d ω
    # Reduce mod 2π in float64 before any float32 cast, so far positions stay exact.
    return np.mod(t * speed[None, :], 2.0 * math.pi)  # [T, n]


def dial_positions(length: int, num_dials: int, *, omega: float | None = None) -> Array:
    """The lecture's dials: z_d(t) = e^{i 2^d ω t} for d = 0..n-1.

    Args:
      length: T, the number of positions 0..T-1.
      num_dials: n; dial d turns 2^d times as fast as dial 0.
      omega: ω, dial 0's angle per step; default 2π / 2^n, so positions 0..2^n-1 are distinct.

    Returns:
      complex64 [T, n], every entry of modulus 1.
    """
    angle = _dial_angles(length, num_dials, omega)
    return jnp.asarray(np.exp(1j * angle), jnp.complex64)  # [T, n]


def dial_features(length: int, num_dials: int, *, omega: float | None = None) -> Array:
    """The dials as real features, cos and sin interleaved: [Re z_0, Im z_0, Re z_1, ...].

    This is a sinusoidal encoding whose frequencies double from one pair to the next (instead of
    shrinking by base^{2/D}), with the cos of each pair first.

    Args:
      length: T.
      num_dials: n.
      omega: as in ``dial_positions``.

    Returns:
      float32 [T, 2n]; features[t, 2d] = cos(2^d ω t), features[t, 2d+1] = sin(2^d ω t).
    """
    angle = _dial_angles(length, num_dials, omega)
    feats = np.stack([np.cos(angle), np.sin(angle)], axis=-1)  # [T, n, 2]
    return jnp.asarray(feats.reshape(length, 2 * num_dials), jnp.float32)  # [T, 2n]


class LearnedPositions(nn.Module):
    """A learned position table (GPT-2 ``wpe``, BERT ``position_embeddings``).

    The param ``embedding`` [max_length, D] carries the logical axes (None, "embed").

    Attributes:
      max_length: the number of positions the table holds.
      features: D.
      embedding_init: N(0, 0.02²) by default, as GPT-2 and BERT.
      dtype: dtype of the returned embeddings; the param stays float32.
    """

    max_length: int
    features: int
    embedding_init: Callable[..., Array] = nn.initializers.normal(stddev=0.02)
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, positions: int | Array) -> Array:
        """Looks up position embeddings.

        Args:
          positions: an int T (positions 0..T-1), or int [..., T] positions (e.g. [B, T], or an
            offset range when decoding). A static T or concrete positions outside
            [0, max_length) raise a ValueError; traced positions (under jit) cannot be checked
            and are clipped into range, as jnp.take does.

        Returns:
          [T, D] for an int, else [..., T, D], in ``dtype``.
        """
        if self.max_length < 1 or self.features < 1:
            raise InputError(
                f"LearnedPositions needs positive max_length and features, got "
                f"{self.max_length} and {self.features}."
            )
        table = self.param(
            "embedding",
            nn.with_logical_partitioning(self.embedding_init, (None, "embed")),
            (self.max_length, self.features),
        )
        table = jnp.asarray(table, self.dtype)
        if isinstance(positions, (int, np.integer)):
            if not 0 <= positions <= self.max_length:
                raise InputError(
                    f"Sequence length {positions} is outside the learned position table "
                    f"(max_length={self.max_length}); shorten the input or enlarge the table."
                )
            return table[: int(positions)]  # [T, D]
        positions = jnp.asarray(positions)
        if not jnp.issubdtype(positions.dtype, jnp.integer):
            raise InputError(f"positions must be integers, got dtype {positions.dtype}.")
        if not isinstance(positions, jax.core.Tracer) and positions.size:
            low, high = int(positions.min()), int(positions.max())
            if low < 0 or high >= self.max_length:
                raise InputError(
                    f"Positions span [{low}, {high}], outside the learned position table "
                    f"[0, {self.max_length}); shorten the input or enlarge the table."
                )
        return jnp.take(table, positions, axis=0, mode="clip")  # [..., T, D]
