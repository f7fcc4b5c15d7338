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
entries, like the sinusoids; the other kernels are Glorot-uniform (as in tensor2tensor). Both
stacks are ``TransformerStack``s of post-LN ReLU layers (``transformer_stack``); the embeddings
and sinusoids are added here, before them.

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

import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxpretrain.errors import InputError
from jaxpretrain.models.layers import check_tokens, over_rows, partitioned
from jaxpretrain.models.masks import padding_mask
from jaxpretrain.models.positions import sinusoidal_positions
from jaxpretrain.models.transformer_stack import KernelInits, LayerConfig, TransformerStack

Array = Any


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
      attention: ``MultiHeadAttention.implementation``: "einsum" (the default), "blocked", "xla" or
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
        layer = LayerConfig(
            num_heads=self.num_heads,
            hidden=self.hidden,
            norm_placement="post",  # §3.1
            activation="relu",  # Eq. 2
            layer_norm_epsilon=1e-6,  # tensor2tensor's
            kernel_init=KernelInits.glorot_uniform(),
            dropout_rate=self.dropout_rate,
            dtype=self.dtype,
            attention=self.attention,
        )
        self.encoder = TransformerStack(self.num_layers, layer)
        self.decoder = TransformerStack(self.num_layers, layer)
        if not self.tie_output:
            self.head = nn.Dense(
                self.target_vocab_size,
                dtype=self.dtype,
                kernel_init=partitioned(nn.initializers.xavier_uniform(), ("embed", "vocab")),
                bias_init=partitioned(nn.initializers.zeros, ("vocab",)),
            )

    def _validate_config(self) -> None:
        for name in (
            "source_vocab_size", "target_vocab_size", "max_length", "width", "num_layers",
            "num_heads", "hidden",
        ):  # fmt: skip
            if getattr(self, name) < 1:
                raise InputError(f"Transformer {name} must be positive, got {getattr(self, name)}.")
        if self.width % self.num_heads or self.width % 2:
            raise InputError(
                f"Transformer width {self.width} must be even and divisible by num_heads "
                f"{self.num_heads}; pick a width that is a multiple of 2·num_heads."
            )
        if self.share_embeddings and self.source_vocab_size != self.target_vocab_size:
            raise InputError(
                f"share_embeddings needs one vocabulary, but source_vocab_size="
                f"{self.source_vocab_size} and target_vocab_size={self.target_vocab_size}: "
                "use a shared tokenizer or set share_embeddings=False."
            )

    def _check_tokens(self, name: str, tokens: Array, vocab_size: int, valid=None):
        return check_tokens(
            tokens, valid, vocab_size=vocab_size, max_length=self.max_length, model="Transformer",
            name=name,
        )  # fmt: skip

    def _embed(self, table: nn.Embed, tokens: Array, positions: Array) -> Array:
        """√D · E[tokens] + PE[positions]: [B, T, D] from int [B, T] and float32 [T, D]."""
        x = table(tokens) * math.sqrt(self.width)  # §3.4: embeddings are multiplied by √D.
        return x + positions.astype(x.dtype)

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
        positions = sinusoidal_positions(self.max_length, self.width)[: source.shape[1]]  # [S, D]
        x = self._embed(self.source_embed, source, positions)
        mask = padding_mask(valid)  # [B, 1, S, S]: every real source key.
        return self.encoder(x, mask=mask, deterministic=deterministic)

    @nn.compact  # Only for the "position" counter of incremental decoding, a "cache" variable.
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
            positions after those cached (positions continue from the "position" counter); call
            with ``apply({"params": p, "cache": c}, ..., decode=True, mutable=["cache"],
            method="decode")``. Under ``jit`` nothing checks that the cache has room:
            ``models.decoding`` stays within it.

        Returns:
          float32 [B, T, V_tgt]; logits[b, t] depends on target_inputs[b, :t+1] and the real
          source positions only.
        """
        target_inputs, _ = self._check_tokens("target", target_inputs, self.target_vocab_size)
        b, t = target_inputs.shape
        if encoded.ndim != 3 or encoded.shape[0] != b or encoded.shape[2] != self.width:
            raise InputError(
                f"encoded must be [B, S, D] = [{b}, S, {self.width}], got {encoded.shape}."
            )
        if source_valid is None:
            source_valid = jnp.ones(encoded.shape[:2], jnp.bool_)
        table = sinusoidal_positions(self.max_length, self.width)  # [max_length, D]
        if decode:
            filled = self.variable("cache", "position", lambda: jnp.zeros((), jnp.int32))
            positions = jax.lax.dynamic_slice_in_dim(table, filled.value, t)  # [T, D]
            if not self.is_initializing():
                filled.value = filled.value + t
        else:
            positions = table[:t]
        s = source_valid.shape[1]
        # Right-padded targets need no self-attention mask beyond causality: real queries never
        # see later keys. Cross-attention sees the real source positions only.
        y = self.decoder(
            self._embed(self.target_embed, target_inputs, positions),
            encoded,
            cross_mask=jnp.broadcast_to(source_valid[:, None, None, :], (b, 1, t, s)),
            causal=True,
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
      [B, H, length, K] (``dtype``) and ``cache_index``, and ``position``, int32 scalars.
    """
    if not 1 <= length <= model.max_length:
        raise InputError(
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
        raise InputError(
            f"Unknown Transformer variant {variant!r}; known variants: {', '.join(_VARIANTS)}."
        )
    defaults = dict(source_vocab_size=37000, target_vocab_size=37000, max_length=256)
    return Transformer(**{**defaults, **_VARIANTS[variant], **overrides})
