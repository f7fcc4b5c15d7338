"""ELMo: a character-aware bidirectional LSTM language model and its scalar mix of layers.

Peters et al. 2018 ("Deep contextualized word representations", Sec. 3), with the architecture of
the reference implementation (allenai/bilm-tf, `bilm/model.py`):

- Token encoder (Kim et al. 2016, "Character-Aware Neural Language Models"): each token's C
  character ids (`data.characters`) are embedded (E dims), convolved with filters of several
  widths w (F_w each), max-pooled over the word and passed through an activation, concatenated
  (Σ F_w dims), then through highway layers (Srivastava et al. 2015)

      g = σ(x W_g + b_g) (b_g starts at -2, so the layer starts near the identity),
      y = g ⊙ relu(x W_t + b_t) + (1 - g) ⊙ x,

  and a linear projection to P dims: x_t, the "token layer", context-free.
- Two LSTM stacks, a forward one reading x_1..x_t and a backward one reading x_T..x_t, of
  `num_layers` LSTMs with a projection each (LSTMP, Sak et al. 2014):

      [i, j, f, o] = x_t W_x + h_{t-1} W_h + b
      c_t = clip(σ(f + 1) ⊙ c_{t-1} + σ(i) ⊙ tanh(j), ±cell_clip)
      h_t = clip((σ(o) ⊙ tanh(c_t)) W_p, ±projection_clip)           (h_t has P dims)

  and a residual connection around every layer but the first (its output plus its input).
  Both directions share the token encoder; `ElmoLM` adds the softmax they share. Each stack is
  a `flax.linen.RNN` (a `lax.scan` over time); x W_x is computed for all steps before the scan.
- Rows may hold several sentences (`data.sentences`): `segments` (int [B, T], the sentence's
  number, 0 for padding) restarts both LSTMs at each sentence's first token, in its direction,
  so no context crosses a sentence boundary.

ELMo's representation of token t is then the layer stack R_t = {[x_t; x_t], [→h_t,j; ←h_t,j] for
j = 1..L} (each 2P dims), which `ScalarMix` collapses into γ Σ_j softmax(s)_j R_t,j (Eq. 1).
"""

from __future__ import annotations

from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxpretrain.data.characters import NUM_CHAR_IDS
from jaxpretrain.errors import InputError
from jaxpretrain.models.layers import activation

Array = jax.Array

# bilm-tf's full ELMo: [width, filters] pairs, 2,048 filters in all.
ELMO_FILTERS = ((1, 32), (2, 32), (3, 64), (4, 128), (5, 256), (6, 512), (7, 1024))


class CharEncoder(nn.Module):
    """Characters -> the context-free token layer: chars int [..., C] -> float [..., P].

    Attributes:
      filters: (width, count) pairs of the character convolutions.
      char_features: E, the character embedding size (16 in ELMo).
      highway_layers: highway layers after the convolutions (2 in ELMo).
      projection: P, the output size (ELMo: 512).
      conv_activation: applied after the max-pool ("relu" in ELMo).
    """

    filters: Sequence[tuple[int, int]] = ELMO_FILTERS
    char_features: int = 16
    highway_layers: int = 2
    projection: int = 512
    conv_activation: str = "relu"
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, chars: Array) -> Array:
        *lead, length = chars.shape
        widest = max(width for width, _ in self.filters)
        if widest > length:
            raise InputError(
                f"a character filter of width {widest} is wider than the {length} characters per"
                " token: set data.max_chars >= the widest filter."
            )
        embedded = nn.Embed(NUM_CHAR_IDS, self.char_features, dtype=self.dtype, name="chars")(
            chars.reshape(-1, length)
        )  # [N, C, E]
        act = activation(self.conv_activation)
        pooled = [
            act(
                jnp.max(
                    nn.Conv(
                        count, (width,), padding="VALID", dtype=self.dtype, name=f"conv{width}"
                    )(embedded),
                    axis=1,
                )
            )
            for width, count in self.filters
        ]
        x = jnp.concatenate(pooled, axis=-1)  # [N, Σ F_w]
        for k in range(self.highway_layers):
            features = x.shape[-1]
            gate = nn.sigmoid(
                nn.Dense(
                    features,
                    bias_init=nn.initializers.constant(-2.0),
                    dtype=self.dtype,
                    name=f"highway{k}_gate",
                )(x)
            )
            transform = nn.relu(nn.Dense(features, dtype=self.dtype, name=f"highway{k}")(x))
            x = gate * transform + (1.0 - gate) * x
        x = nn.Dense(self.projection, dtype=self.dtype, name="projection")(x)
        return x.reshape(*lead, self.projection)


class LSTMPCell(nn.RNNCellBase):
    """One step of an LSTM with a projection (module docstring), bilm-tf's
    `LSTMCell(features, num_proj=projection, cell_clip, proj_clip)` with forget bias 1.

    The input at each step is [x_t W_x + b, reset] (4F + 1): the input half of the gates,
    computed outside the scan, and a flag that restarts the state (c, h ← 0) before the step.
    Carry: (c [..., F], h [..., P]); output h [..., P].
    """

    features: int
    projection: int
    cell_clip: float = 3.0
    projection_clip: float = 3.0
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, carry, inputs):
        c, h = carry
        gates_x, reset = inputs[..., :-1], inputs[..., -1:]
        c, h = c * (1.0 - reset), h * (1.0 - reset)
        gates = gates_x + nn.Dense(
            4 * self.features, use_bias=False, dtype=self.dtype, name="recurrent"
        )(h)
        i, j, f, o = jnp.split(gates, 4, axis=-1)
        c = nn.sigmoid(f + 1.0) * c + nn.sigmoid(i) * jnp.tanh(j)
        if self.cell_clip:
            c = jnp.clip(c, -self.cell_clip, self.cell_clip)
        h = nn.Dense(self.projection, use_bias=False, dtype=self.dtype, name="projection")(
            nn.sigmoid(o) * jnp.tanh(c)
        )
        if self.projection_clip:
            h = jnp.clip(h, -self.projection_clip, self.projection_clip)
        return (c, h), h

    @nn.nowrap
    def initialize_carry(self, rng, input_shape):
        del rng
        batch = tuple(input_shape[:-1])
        return (
            jnp.zeros(batch + (self.features,), self.dtype),
            jnp.zeros(batch + (self.projection,), self.dtype),
        )

    @property
    def num_feature_axes(self) -> int:
        return 1


def sentence_starts(segments: Array, reverse: bool) -> Array:
    """float [B, T]: 1 where a sentence starts in reading order (the first token of each sentence,
    or its last one when reading backwards), else 0."""
    neighbour = jnp.roll(segments, 1 if not reverse else -1, axis=1)
    edge = 0 if not reverse else -1
    neighbour = neighbour.at[:, edge].set(-1)
    return (segments != neighbour).astype(jnp.float32)


class LSTMPStack(nn.Module):
    """`num_layers` LSTMP layers in one direction, residual around layers 2..L.

    ``__call__(x [B, T, P], segments int [B, T])`` -> the outputs of every layer, [L, B, T, P]
    (positions past a row's last token hold garbage; callers mask them).
    """

    num_layers: int
    features: int
    projection: int
    reverse: bool
    cell_clip: float = 3.0
    projection_clip: float = 3.0
    dropout_rate: float = 0.0
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: Array, segments: Array, deterministic: bool = True) -> Array:
        starts = sentence_starts(segments, self.reverse)[..., None].astype(self.dtype)
        lengths = jnp.sum(segments > 0, axis=1)
        outputs = []
        for layer in range(self.num_layers):
            inputs = nn.Dropout(self.dropout_rate)(x, deterministic=deterministic)
            gates_x = nn.Dense(4 * self.features, dtype=self.dtype, name=f"layer{layer}_input")(
                inputs
            )
            cell = LSTMPCell(
                self.features,
                self.projection,
                self.cell_clip,
                self.projection_clip,
                dtype=self.dtype,
                name=f"layer{layer}",
            )
            h = nn.RNN(cell, reverse=self.reverse, keep_order=True)(
                jnp.concatenate([gates_x, starts], axis=-1), seq_lengths=lengths
            )
            x = h if layer == 0 else h + x
            outputs.append(x)
        return jnp.stack(outputs)


class BiLM(nn.Module):
    """The token encoder and both LSTM stacks (module docstring): what ELMo's vectors come from.

    ``__call__(chars int [B, T, C], segments int [B, T] or None)`` returns (tokens [B, T, P],
    forward [L, B, T, P], backward [L, B, T, P]). ``segments`` None means one sentence per row,
    whose tokens are the positions with any character (``chars`` rows of zeros are padding).
    ``layers`` stacks them into ELMo's representation, [L + 1, B, T, 2P].

    Attributes: the `CharEncoder`'s (filters, char_features, highway_layers, projection,
      conv_activation), and lstm_features (F, the LSTM cell size; 4096 in ELMo), num_layers (L, 2),
      cell_clip, projection_clip (3 and 3), dropout_rate (on each LSTM layer's input; 0.1).
    """

    filters: Sequence[tuple[int, int]] = ELMO_FILTERS
    char_features: int = 16
    highway_layers: int = 2
    projection: int = 512
    conv_activation: str = "relu"
    lstm_features: int = 4096
    num_layers: int = 2
    cell_clip: float = 3.0
    projection_clip: float = 3.0
    dropout_rate: float = 0.0
    dtype: Any = jnp.float32

    def setup(self):
        self.tokens = CharEncoder(
            tuple(tuple(f) for f in self.filters),
            self.char_features,
            self.highway_layers,
            self.projection,
            self.conv_activation,
            dtype=self.dtype,
        )
        stack = dict(
            num_layers=self.num_layers,
            features=self.lstm_features,
            projection=self.projection,
            cell_clip=self.cell_clip,
            projection_clip=self.projection_clip,
            dropout_rate=self.dropout_rate,
            dtype=self.dtype,
        )
        self.forward = LSTMPStack(reverse=False, **stack)
        self.backward = LSTMPStack(reverse=True, **stack)

    def __call__(self, chars: Array, segments: Array | None = None, deterministic: bool = True):
        if chars.ndim != 3:
            raise InputError(f"BiLM expects chars int [B, T, C], got shape {chars.shape}.")
        if segments is None:
            segments = token_mask(chars).astype(jnp.int32)
        x = self.tokens(chars)
        return (
            x,
            self.forward(x, segments, deterministic=deterministic),
            self.backward(x, segments, deterministic=deterministic),
        )

    def layers(self, chars: Array, segments: Array | None = None) -> Array:
        """ELMo's layer stack [L + 1, B, T, 2P]: [x; x], then [→h_j; ←h_j] for j = 1..L."""
        x, forward, backward = self(chars, segments)
        return jnp.concatenate(
            [jnp.concatenate([x, x], -1)[None], jnp.concatenate([forward, backward], -1)], axis=0
        )


def token_mask(chars: Array) -> Array:
    """bool [..., T]: the positions that hold a token (any non-zero character id)."""
    return jnp.any(chars > 0, axis=-1)


class ElmoLM(nn.Module):
    """The pretraining model: a `BiLM` and the softmax its two directions share.

    ``__call__(chars, segments)`` returns the full-softmax logits of both directions, float32
    [B, T, V] each: the forward LM's at t scores token t + 1, the backward LM's token t - 1.
    ``hidden`` returns the top layers they come from (forward, backward [B, T, P]), for a sampled
    softmax that reads only some rows of the softmax's params {"kernel" [P, V], "bias" [V]}.
    Params: {"bilm": ..., "softmax": ...}.
    """

    bilm: BiLM
    vocab_size: int

    def setup(self):
        self.softmax = nn.Dense(self.vocab_size, dtype=jnp.float32)

    def hidden(self, chars: Array, segments: Array | None = None, deterministic: bool = True):
        _, forward, backward = self.bilm(chars, segments, deterministic=deterministic)
        return forward[-1], backward[-1]

    def __call__(self, chars: Array, segments: Array | None = None, deterministic: bool = True):
        forward, backward = self.hidden(chars, segments, deterministic=deterministic)
        return self.softmax(forward.astype(jnp.float32)), self.softmax(backward.astype(jnp.float32))


class ScalarMix(nn.Module):
    """ELMo's task-specific combination of layers (Peters et al. 2018, Eq. 1):

        ELMo_t = γ Σ_j s_j h_t,j,   s = softmax(w),

    with w (init 0, so s starts uniform) and γ (init 1) learned by the downstream task. bilm-tf
    writes s = softmax(w + 1/L), the same weights (softmax ignores a common shift). With
    ``layer_norm`` each layer is first normalised to mean 0 and variance 1 over the real tokens of
    its sentence and all dims (bilm-tf normalises over the whole batch; per sentence, a sentence's
    vector does not depend on its batch mates).

    ``__call__(layers [L, B, T, D], mask bool [B, T] or None)`` -> [B, T, D].

    Attributes:
      num_layers: L, the layers mixed (ELMo: the token layer and two LSTM layers, 3).
      layer_norm: normalise each layer first.
    """

    num_layers: int
    layer_norm: bool = False

    @nn.compact
    def __call__(self, layers: Array, mask: Array | None = None) -> Array:
        if layers.shape[0] != self.num_layers:
            raise InputError(
                f"ScalarMix has weights for {self.num_layers} layers but was given"
                f" {layers.shape[0]}: make num_layers the model's layer count (the token layer"
                " plus its LSTM layers)."
            )
        weights = self.param("weights", nn.initializers.zeros, (self.num_layers,))
        gamma = self.param("gamma", nn.initializers.ones, ())
        if self.layer_norm:
            layers = _normalise(layers, mask)
        s = jax.nn.softmax(weights).astype(layers.dtype)
        return gamma.astype(layers.dtype) * jnp.einsum("l,lbtd->btd", s, layers)


def _normalise(layers: Array, mask: Array | None) -> Array:
    """Each layer of each sentence to mean 0, variance 1 over its masked positions and dims."""
    if mask is None:
        mask = jnp.ones(layers.shape[1:3], bool)
    weight = mask[None, :, :, None].astype(layers.dtype)  # [1, B, T, 1]
    count = jnp.maximum(jnp.sum(weight, axis=(2, 3), keepdims=True) * layers.shape[-1], 1.0)
    mean = jnp.sum(layers * weight, axis=(2, 3), keepdims=True) / count
    variance = jnp.sum(jnp.square(layers - mean) * weight, axis=(2, 3), keepdims=True) / count
    return (layers - mean) * jax.lax.rsqrt(variance + 1e-12)


def word_mask(chars: Array) -> Array:
    """bool [B, T]: the words of one-sentence rows <S> w_1..w_n </S>: tokens but the first and
    last of each row."""
    tokens = token_mask(chars)
    positions = jnp.arange(chars.shape[1])
    lengths = jnp.sum(tokens, axis=1, keepdims=True)
    return tokens & (positions > 0) & (positions < lengths - 1)


class ElmoEncoder(nn.Module):
    """ELMo as a downstream encoder (the "elmo" backbone): a `BiLM` and a `ScalarMix` over its
    L + 1 layers. Params {"bilm": ..., "mix": {"weights" [L + 1], "gamma" []}}: a fine-tune takes
    "bilm" from an ELMo run and may freeze it while the mix and the task's layers learn.

    ``__call__(chars int [B, T, C])`` (one sentence a row, <S> and </S> included) -> the mean of
    ELMo_t over the row's words, [B, 2P] (``pooled``), or ELMo_t at every position [B, T, 2P].
    """

    bilm: BiLM
    mix_layer_norm: bool = False
    pooled: bool = True

    def setup(self):
        self.mix = ScalarMix(self.bilm.num_layers + 1, layer_norm=self.mix_layer_norm)

    def __call__(self, chars: Array) -> Array:
        words = word_mask(chars)
        mixed = self.mix(self.bilm.layers(chars), words)  # [B, T, 2P]
        if not self.pooled:
            return mixed
        weight = words[..., None].astype(mixed.dtype)
        return jnp.sum(mixed * weight, axis=1) / jnp.maximum(jnp.sum(weight, axis=1), 1.0)
