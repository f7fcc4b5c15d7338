"""The encoder-decoder Transformer for sequence transduction (Vaswani et al., "Attention Is All You
Need", 2017).

For source tokens x[b, s] ∈ [0, V_src), target tokens y[b, t] ∈ [0, V_tgt), width D, N layers in
each stack (§3.1, post-LayerNorm: each sub-layer is LN(z + Dropout(Sublayer(z)))):

    e⁰[s]   = √D · E_src[x_s] + PE[s]                      (§3.4 scaled embeddings, §3.5 sinusoids)
    a[s]    = LN_1(eˡ + SelfAttn(eˡ)[s])                    (every real source key s′)
    eˡ⁺¹[s] = LN_2(a + FFN(a))[s],   FFN(z) = max(0, z W_1 + b_1) W_2 + b_2   (§3.3, Eq. 2)

    d⁰[t]   = √D · E_tgt[y_t] + PE[t]
    a[t]    = LN_1(dˡ + CausalSelfAttn(dˡ)[t])              (keys t′ ≤ t: §3.2.3 masking)
    c[t]    = LN_2(a + CrossAttn(a, e^N)[t])                (queries a, keys/values e^N, real s only)
    dˡ⁺¹[t] = LN_3(c + FFN(c))[t]
    logits[t] = d^N[t] · W_outᵀ                              (W_out = E_tgt when tied, §3.4)

Dropout (P_drop, §5.4) acts on each sub-layer's output before the residual addition and on the
sums of embeddings and positions. Embeddings are drawn from N(0, 1/D), so √D · E has unit-variance
entries, like the sinusoids; the other kernels are Glorot-uniform (as in tensor2tensor).

Vocabularies: ``share_embeddings`` makes E_src = E_tgt (one vocabulary of both languages, §5.1's
shared BPE); ``tie_output`` makes W_out = E_tgt, as the paper does. With separate vocabularies,
each side has its own table.

Parameter layout: ``embed/embedding`` [V, D] when shared, else ``source_embed`` and
``target_embed``; ``encoder/layer_{i}/{self_attn, ln_1, ffn, ln_2}``;
``decoder/layer_{i}/{self_attn, ln_1, cross_attn, ln_2, ffn, ln_3}`` (attention: query/key/value
kernels [H, K, D], out [H, K, D]; ffn: ``fc`` [D, F], ``proj`` [F, D]); ``head`` [D, V_tgt] when
untied. ``init`` returns ``nn.LogicallyPartitioned`` boxes.

Incremental decoding: ``decode(..., decode=True)`` runs the decoder on the next target positions
only, with the self-attention keys/values of earlier positions in the "cache" collection
(``init_decode_cache``); cross-attention reads the encoder output again at every step, but
inside the jitted decoding loops (``models.decoding``) XLA hoists its loop-invariant Key/Value
projection out of the loop: caching it measured no faster (0.93x, beam search, 6 layers, D 512).
"""

import functools
import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxpretrain.models.attention import MultiHeadAttention
from jaxpretrain.models.layers import MLP, check_tokens, layer_norm, over_rows, partitioned
from jaxpretrain.models.masks import padding_mask
from jaxpretrain.models.positions import sinusoidal_positions

Array = Any


_GLOROT = nn.initializers.xavier_uniform()
# Attention kernels are [H, K, D] (in D, out H·K) and [H, K, D_out] (in H·K, out D_out).
_QKV_INIT = nn.initializers.xavier_uniform(in_axis=-1, out_axis=(0, 1))
_OUT_INIT = nn.initializers.xavier_uniform(in_axis=(0, 1), out_axis=-1)


def _attention(
    num_heads: int, width: int, dtype: Any, implementation: str, name: str
) -> MultiHeadAttention:
    return MultiHeadAttention(
        num_heads=num_heads,
        head_dim=width // num_heads,
        dtype=dtype,
        implementation=implementation,
        kernel_init=_QKV_INIT,
        out_kernel_init=_OUT_INIT,
        name=name,
    )


class Layer(nn.Module):
    """One post-LN layer (§3.1): LN_1(x + SelfAttn(x)), then, in the decoder, LN_2(· +
    CrossAttn(·, encoded)), then LN(· + FFN(·)); each branch is dropped out before the sum."""

    num_heads: int
    hidden: int
    dropout_rate: float = 0.0
    dtype: Any = jnp.float32
    attention: str = "einsum"  # MultiHeadAttention.implementation.

    @nn.compact
    def __call__(
        self,
        x: Array,
        encoded: Array | None = None,
        *,
        self_mask: Array | None,
        cross_mask: Array | None = None,
        causal: bool = False,
        deterministic: bool,
        decode: bool = False,
    ) -> Array:
        """Args: x [B, T, D]; encoded [B, S, D] (decoder layers) or None (encoder layers);
        self_mask bool [B, 1, T, T] (padded keys in the encoder) or None; cross_mask bool
        [B, 1, T, S] (real source keys); causal: causal self-attention (the decoder; with
        ``decode`` the cache masks instead).

        Returns: [B, T, D].
        """
        d, drop = x.shape[-1], nn.Dropout(self.dropout_rate)
        attention = functools.partial(_attention, self.num_heads, d, self.dtype, self.attention)

        def residual(x, y, i):  # LN_i(x + Dropout(y))
            return layer_norm(1e-6, self.dtype, f"ln_{i}")(x + drop(y, deterministic=deterministic))

        self_attention = attention("self_attn")(
            x, mask=self_mask, causal=causal and not decode, decode=decode
        )
        x = residual(x, self_attention, 1)
        if encoded is not None:
            x = residual(x, attention("cross_attn")(x, context=encoded, mask=cross_mask), 2)
        ffn = MLP(  # Eq. 2: max(0, x W_1 + b_1) W_2 + b_2
            self.hidden,
            activation=nn.relu,
            kernel_init=_GLOROT,
            out_kernel_init=_GLOROT,
            dtype=self.dtype,
            name="ffn",
        )(x)
        return residual(x, ffn, 2 if encoded is None else 3)


class Stack(nn.Module):
    """N layers over √D-scaled embeddings plus the sinusoids: the encoder (no ``encoded``), or
    the decoder (causal self-attention and cross-attention to ``encoded``): [B, T, D] -> [B, T, D].
    """

    num_layers: int
    num_heads: int
    hidden: int
    max_length: int
    dropout_rate: float = 0.0
    dtype: Any = jnp.float32
    attention: str = "einsum"  # MultiHeadAttention.implementation.

    @nn.compact
    def __call__(
        self,
        x: Array,
        source_valid: Array,
        encoded: Array | None = None,
        *,
        deterministic: bool,
        decode: bool = False,
    ) -> Array:
        """Args: x [B, T, D]; source_valid bool [B, S], the real source positions (keys of the
        encoder's self-attention or the decoder's cross-attention); encoded [B, S, D] (decoder).
        With ``decode``, positions continue after the cached ones (the "position" counter)."""
        b, t, d = x.shape
        table = sinusoidal_positions(self.max_length, d)  # [max_length, D]
        if decode:
            filled = self.variable("cache", "position", lambda: jnp.zeros((), jnp.int32))
            positions = jax.lax.dynamic_slice_in_dim(table, filled.value, t)  # [T, D]
            if not self.is_initializing():
                filled.value = filled.value + t
        else:
            positions = table[:t]
        x = nn.Dropout(self.dropout_rate)(
            x + positions.astype(x.dtype), deterministic=deterministic
        )
        if encoded is None:
            self_mask, cross_mask = padding_mask(source_valid), None  # [B, 1, S, S]
        else:  # Right-padded targets need no mask beyond causality: real queries never see
            # later keys.
            self_mask, s = None, source_valid.shape[1]
            cross_mask = jnp.broadcast_to(source_valid[:, None, None, :], (b, 1, t, s))
        layer = functools.partial(
            Layer, self.num_heads, self.hidden, self.dropout_rate, self.dtype, self.attention
        )
        kwargs = dict(
            self_mask=self_mask, cross_mask=cross_mask, causal=encoded is not None, decode=decode
        )
        for i in range(self.num_layers):
            x = layer(name=f"layer_{i}")(x, encoded, deterministic=deterministic, **kwargs)
        return x


class Transformer(nn.Module):
    """The encoder-decoder Transformer: source [B, S] and target inputs [B, T] -> logits [B, T, V].

    Attributes:
      source_vocab_size: V_src.
      target_vocab_size: V_tgt.
      max_length: the longest source or target sequence (S, T ≤ max_length).
      width: D (d_model, 512 in the base model).
      num_layers: N, layers in each of the two stacks (6).
      num_heads: H (8); must divide D.
      hidden: F, the FFN width (d_ff, 2048).
      dropout_rate: P_drop (0.1 in the base model); active only with ``deterministic=False`` and a
        "dropout" rng.
      share_embeddings: one embedding table for source and target (needs V_src = V_tgt).
      tie_output: the output projection is the target embedding table transposed.
      dtype: compute dtype (e.g. jnp.bfloat16); params stay float32, logits are float32.
      attention: ``MultiHeadAttention.implementation``: "einsum" (the default), "xla" or
        "cudnn" (flash attention on NVIDIA GPUs in bf16); the same function either way.
    """

    source_vocab_size: int
    target_vocab_size: int
    max_length: int
    width: int = 512
    num_layers: int = 6
    num_heads: int = 8
    hidden: int = 2048
    dropout_rate: float = 0.0
    share_embeddings: bool = True
    tie_output: bool = True
    dtype: Any = jnp.float32
    attention: str = "einsum"

    def setup(self):
        self._validate_config()
        embed = lambda v, name: nn.Embed(  # noqa: E731
            v,
            self.width,
            dtype=self.dtype,
            embedding_init=partitioned(
                nn.initializers.normal(self.width**-0.5), ("vocab", "embed")
            ),
            name=name,
        )
        if self.share_embeddings:
            self.source_embed = self.target_embed = embed(self.source_vocab_size, "embed")
        else:
            self.source_embed = embed(self.source_vocab_size, "source_embed")
            self.target_embed = embed(self.target_vocab_size, "target_embed")
        fields = (
            "max_length", "num_layers", "num_heads", "hidden", "dropout_rate", "dtype", "attention",
        )  # fmt: skip
        stack = {name: getattr(self, name) for name in fields}
        self.encoder, self.decoder = Stack(**stack), Stack(**stack)
        if not self.tie_output:
            self.head = nn.Dense(
                self.target_vocab_size,
                dtype=self.dtype,
                kernel_init=partitioned(_GLOROT, ("embed", "vocab")),
                bias_init=partitioned(nn.initializers.zeros, ("vocab",)),
            )

    def _validate_config(self) -> None:
        for name in (
            "source_vocab_size", "target_vocab_size", "max_length", "width", "num_layers",
            "num_heads", "hidden",
        ):  # fmt: skip
            if getattr(self, name) < 1:
                raise ValueError(f"Transformer {name} must be positive, got {getattr(self, name)}.")
        if self.width % self.num_heads or self.width % 2:
            raise ValueError(
                f"Transformer width {self.width} must be even and divisible by num_heads "
                f"{self.num_heads}; pick a width that is a multiple of 2·num_heads."
            )
        if not 0.0 <= self.dropout_rate < 1.0:
            raise ValueError(f"dropout_rate must be in [0, 1), got {self.dropout_rate}.")
        if self.share_embeddings and self.source_vocab_size != self.target_vocab_size:
            raise ValueError(
                f"share_embeddings needs one vocabulary, but source_vocab_size="
                f"{self.source_vocab_size} and target_vocab_size={self.target_vocab_size}: "
                "use a shared tokenizer or set share_embeddings=False."
            )

    def _check_tokens(self, name: str, tokens: Array, vocab_size: int, valid=None):
        return check_tokens(
            tokens, valid, vocab_size=vocab_size, max_length=self.max_length, model="Transformer",
            name=name,
        )  # fmt: skip

    def _embed(self, table: nn.Embed, tokens: Array) -> Array:
        return table(tokens) * math.sqrt(self.width)  # §3.4: embeddings are multiplied by √D.

    def encode(
        self, source: Array, source_valid: Array | None = None, *, deterministic: bool = True
    ) -> Array:
        """The encoder output e^N.

        Args:
          source: int [B, S], ids in [0, V_src), S ≤ max_length.
          source_valid: bool [B, S], False at padding (never attended to); None: all real.
          deterministic: False enables dropout (needs a "dropout" rng).

        Returns:
          [B, S, D] in ``dtype``; rows at padded positions are meaningless.
        """
        source, source_valid = self._check_tokens(
            "source", source, self.source_vocab_size, source_valid
        )
        valid = jnp.ones(source.shape, jnp.bool_) if source_valid is None else source_valid
        x = self._embed(self.source_embed, source)
        return self.encoder(x, valid, deterministic=deterministic)

    def decode(
        self,
        target_inputs: Array,
        encoded: Array,
        source_valid: Array | None = None,
        *,
        deterministic: bool = True,
        decode: bool = False,
    ) -> Array:
        """Next-token logits of the target given the encoder output.

        Args:
          target_inputs: int [B, T], the decoder's inputs (BOS, y_1, ..., y_{T-1}).
          encoded: [B, S, D], from ``encode``.
          source_valid: bool [B, S], as given to ``encode``.
          deterministic: False enables dropout.
          decode: incremental decoding (``init_decode_cache``): ``target_inputs`` are the next T
            positions after those cached; call with ``apply({"params": p, "cache": c}, ...,
            decode=True, mutable=["cache"], method="decode")``. Under ``jit`` nothing checks
            that the cache has room: ``models.decoding`` stays within it.

        Returns:
          float32 [B, T, V_tgt]; logits[b, t] depends on target_inputs[b, :t+1] and the real
          source positions only.
        """
        target_inputs, _ = self._check_tokens("target", target_inputs, self.target_vocab_size)
        b = target_inputs.shape[0]
        if encoded.ndim != 3 or encoded.shape[0] != b or encoded.shape[2] != self.width:
            raise ValueError(
                f"encoded must be [B, S, D] = [{b}, S, {self.width}], got {encoded.shape}."
            )
        if source_valid is None:
            source_valid = jnp.ones(encoded.shape[:2], jnp.bool_)
        y = self.decoder(
            self._embed(self.target_embed, target_inputs),
            source_valid,
            encoded,
            deterministic=deterministic,
            decode=decode,
        )  # [B, T, D]
        head = self.target_embed.attend if self.tie_output else self.head
        return over_rows(head, y).astype(jnp.float32)  # tied: logits[b,t,v] = Σ_j y[b,t,j] E[v,j]

    def __call__(
        self,
        source: Array,
        target_inputs: Array,
        *,
        source_valid: Array | None = None,
        deterministic: bool = True,
    ) -> Array:
        """Teacher-forced logits float32 [B, T, V_tgt] (see ``encode`` and ``decode``)."""
        encoded = self.encode(source, source_valid, deterministic=deterministic)
        return self.decode(target_inputs, encoded, source_valid, deterministic=deterministic)


def init_transformer(model: Transformer, rng: Array) -> dict:
    """``model``'s params as plain (unboxed) float32 arrays, without the {"params": ...} wrapper."""
    tokens = jnp.zeros((1, 1), jnp.int32)
    # One compiled init is much faster than op-by-op, and works under jax.eval_shape too.
    return jax.jit(lambda key: nn.unbox(model.init(key, tokens, tokens)["params"]))(rng)


def init_decode_cache(model: Transformer, batch_size: int, length: int) -> dict:
    """An empty decoder cache for ``decode(..., decode=True)``: room for ``length`` target
    positions of ``batch_size`` rows (the source length does not matter: cross-attention keys
    are not cached).

    Returns:
      The "cache" collection: ``decoder/layer_{i}/self_attn/cached_{key,value}`` zeros
      [B, H, length, K] (``dtype``) and ``cache_index``, and ``decoder/position``, int32 scalars.
    """
    if not 1 <= length <= model.max_length:
        raise ValueError(
            f"cache length {length} must be in [1, max_length={model.max_length}]: decode fewer "
            "tokens or build the model with a larger max_length."
        )
    tokens = jnp.zeros((batch_size, length), jnp.int32)
    encoded = jnp.zeros((batch_size, 1, model.width), model.dtype)

    def cache():
        return model.init(jax.random.key(0), tokens, encoded, decode=True, method="decode")["cache"]

    shapes = jax.eval_shape(cache)
    return jax.tree_util.tree_map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)


_VARIANTS = {
    # Vaswani et al. 2017, Table 3: the base and big models (their vocabulary: ~37k shared BPE).
    "base": dict(width=512, num_layers=6, num_heads=8, hidden=2048, dropout_rate=0.1),
    "big": dict(width=1024, num_layers=6, num_heads=16, hidden=4096, dropout_rate=0.3),
    # For tests: a few thousand parameters.
    "tiny": dict(
        width=32, num_layers=2, num_heads=2, hidden=64, source_vocab_size=13, target_vocab_size=13
    ),
}


def transformer(variant: str, **overrides) -> Transformer:
    """Builds a Transformer from a preset name, e.g. ``transformer("base", max_length=256, ...)``.

    Args:
      variant: "base" (65M parameters with a 37k vocabulary), "big" (213M), or "tiny" (V = 13)
        for tests. Vocabulary sizes and max_length default to 37000 and 256.
      **overrides: Transformer fields replacing the preset's.

    Returns:
      An unbound Transformer module.
    """
    if variant not in _VARIANTS:
        raise ValueError(
            f"Unknown Transformer variant {variant!r}; known variants: {', '.join(_VARIANTS)}."
        )
    defaults = dict(source_vocab_size=37000, target_vocab_size=37000, max_length=256)
    return Transformer(**{**defaults, **_VARIANTS[variant], **overrides})
