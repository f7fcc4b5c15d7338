"""Tests for jaxpretrain.models.positions: formulas, the dials' defining properties, tables."""

import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxpretrain.models import (
    LearnedPositions,
    dial_features,
    dial_positions,
    sinusoidal_positions,
)


def _wrap(angle):
    """Angle difference reduced to (-π, π]."""
    return np.angle(np.exp(1j * np.asarray(angle, np.float64)))


def test_sinusoidal_matches_the_paper_formula():
    length, features = 7, 8
    pe = sinusoidal_positions(length, features)
    assert pe.shape == (length, features) and pe.dtype == jnp.float32
    want = np.zeros((length, features))
    for t in range(length):
        for i in range(features // 2):
            want[t, 2 * i] = math.sin(t / 10000 ** (2 * i / features))
            want[t, 2 * i + 1] = math.cos(t / 10000 ** (2 * i / features))
    np.testing.assert_allclose(pe, want, atol=1e-6)
    # D = 4, i = 1: PE[2, 2] = sin(2 / base^{2/4}).
    np.testing.assert_allclose(
        sinusoidal_positions(3, 4, max_wavelength=10.0)[2, 2], math.sin(2 / 10**0.5), rtol=1e-6
    )
    with pytest.raises(ValueError, match="even"):
        sinusoidal_positions(4, 5)


@pytest.mark.parametrize("num_dials,omega", [(4, None), (6, None), (3, 0.3)])
def test_dials_defining_properties(num_dials, omega):
    length = 2**num_dials + 3
    z = np.asarray(dial_positions(length, num_dials, omega=omega), np.complex128)
    assert z.shape == (length, num_dials)
    assert dial_positions(2, num_dials).dtype == jnp.complex64
    step = 2 * math.pi / 2**num_dials if omega is None else omega
    np.testing.assert_allclose(np.abs(z), 1.0, atol=1e-6)  # hands on the unit circle
    np.testing.assert_allclose(z[0], 1.0, atol=1e-6)  # every hand starts at angle 0
    # Dial d+1's angle is twice dial d's, mod 2π, at every t.
    for d in range(num_dials - 1):
        diff = _wrap(np.angle(z[:, d + 1]) - 2 * np.angle(z[:, d]))
        np.testing.assert_allclose(diff, 0.0, atol=1e-5)
    # One step is the same rotation e^{i 2^d ω} at every t ...
    rotation = np.exp(1j * step * 2.0 ** np.arange(num_dials))  # [n]
    np.testing.assert_allclose(z[1:], z[:-1] * rotation, atol=1e-5)
    # ... so a shift by Δ is one fixed diagonal (linear) map R_Δ = diag z(Δ), for every t.
    for delta in (2, 5):
        np.testing.assert_allclose(z[delta:], z[:-delta] * z[delta], atol=1e-5)


@pytest.mark.parametrize("num_dials", [1, 3, 5])
def test_dials_count_like_a_binary_counter(num_dials):
    n = 2**num_dials
    z = np.asarray(dial_positions(n + 1, num_dials), np.complex128)
    # The first 2^n positions are pairwise distinct, and position 2^n wraps back to 0.
    dist = np.linalg.norm(z[:n, None, :] - z[None, :n, :], axis=-1)
    assert np.all(dist[~np.eye(n, dtype=bool)] > 1e-3)
    np.testing.assert_allclose(z[n], z[0], atol=1e-5)
    # Dial d is in its second half-turn exactly when bit n-1-d of t is set; the fastest dial
    # flips every step like the least significant bit.
    ticks = np.round(np.mod(np.angle(z[:n]), 2 * math.pi) / (2 * math.pi / n)).astype(int) % n
    bits = (np.arange(n)[:, None] >> np.arange(num_dials)[None, ::-1]) & 1  # [t, d]: bit n-1-d
    np.testing.assert_array_equal(ticks >= n // 2, bits.astype(bool))
    np.testing.assert_allclose(z[:n, -1], (-1.0) ** np.arange(n), atol=1e-6)


def test_dial_features_interleave_cos_and_sin():
    z = np.asarray(dial_positions(9, 3))
    f = dial_features(9, 3)
    assert f.shape == (9, 6) and f.dtype == jnp.float32
    np.testing.assert_allclose(f[:, 0::2], z.real, atol=1e-6)
    np.testing.assert_allclose(f[:, 1::2], z.imag, atol=1e-6)
    with pytest.raises(ValueError, match="num_dials"):
        dial_features(4, 0)


def test_learned_positions_lookup_and_names():
    model = LearnedPositions(max_length=8, features=4)
    variables = model.init(jax.random.key(0), 5)
    assert variables["params"]["embedding"].names == (None, "embed")
    table = nn.unbox(variables)["params"]["embedding"]
    assert table.shape == (8, 4) and 0.005 < np.std(table) < 0.05
    np.testing.assert_array_equal(model.apply(variables, 5), table[:5])
    positions = jnp.array([[0, 1, 2], [5, 6, 7]])  # [B, T], e.g. an offset when decoding
    out = model.apply(variables, positions)
    assert out.shape == (2, 3, 4)
    np.testing.assert_array_equal(out, table[np.asarray(positions)])
    jitted = jax.jit(lambda p: model.apply(variables, p))(positions)
    np.testing.assert_array_equal(jitted, out)


def test_learned_positions_out_of_range_raises():
    model = LearnedPositions(max_length=8, features=4)
    variables = model.init(jax.random.key(0), 8)
    with pytest.raises(ValueError, match="max_length=8"):
        model.apply(variables, 9)
    with pytest.raises(ValueError, match=r"\[0, 8\)"):
        model.apply(variables, jnp.arange(10)[None])
    with pytest.raises(ValueError, match=r"\[0, 8\)"):
        model.apply(variables, jnp.array([[-1, 0]]))
    with pytest.raises(ValueError, match="integers"):
        model.apply(variables, jnp.zeros((1, 3)))
    # Traced positions cannot be checked; they are clipped into the table.
    clipped = jax.jit(lambda p: model.apply(variables, p))(jnp.array([[7, 9]]))
    table = nn.unbox(variables)["params"]["embedding"]
    np.testing.assert_array_equal(clipped[0], table[np.array([7, 7])])
