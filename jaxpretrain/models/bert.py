"""BERT: a bidirectional Transformer encoder pretrained with a masked language model and next
sentence prediction (Devlin et al., "BERT: Pre-training of Deep Bidirectional Transformers for
Language Understanding", NAACL 2019), on the post-LN Transformer encoder of Vaswani et al. 2017.

For tokens x[b, t] ∈ [0, V), segment ids s[b, t] ∈ [0, S) (token types), width D, L layers
(BERT §3, Figure 2; google-research/bert modeling.py):

    h⁰[t]   = LN_e(W_e[x_t] + W_p[t] + W_s[s_t])          (word + position t + segment, then LN)
    a[t]    = LN_1(hˡ[t] + Attn(hˡ)[t])                     (every t attends to every real t′)
    hˡ⁺¹[t] = LN_2(a[t] + W_2 · GELU(W_1 · a[t] + b_1) + b_2)  (MLP D -> F -> D, F = 4D)
    pooled  = tanh(W_pool · hᴸ[0] + b_pool)                (the [CLS] position, §3 "C")

Positions are absolute, 0..T-1 whatever the padding (as Hugging Face's default position_ids).
GELU is the exact one, u·Φ(u) with the erf (HF "gelu"); "gelu_tanh" is HF's "gelu_new".
LayerNorm ε = 1e-12 (HF). There is no final LayerNorm: each layer already ends in one.

Pretraining heads (``Bert``, HF ``BertForPreTraining``; BERT §3.1):

    masked LM:      z = LN_m(GELU(W_m · hᴸ[t] + b_m)),  logits[t] = z · W_eᵀ + b_out   [V]
    next sentence:  logits = W_nsp · pooled + b_nsp                                  [2]

the masked-LM decoder tied to the word embedding W_e. Initialisation (modeling.py
``initializer_range``): every kernel and embedding from N(0, 0.02²), biases zero, LayerNorm
scales one.

Parameter layout of ``BertEncoder`` (HF ``bert.*`` in brackets):
``word_embeddings/embedding`` [V, D], ``position_embeddings/embedding`` [P, D],
``token_type_embeddings/embedding`` [S, D], ``embeddings_ln`` (embeddings.LayerNorm),
``layer_{i}/attention/{query,key,value}`` (kernel [H, K, D], bias [H, K]; attention.self.*),
``layer_{i}/attention/out`` (kernel [H, K, D], bias [D]; attention.output.dense),
``layer_{i}/ln_1`` (attention.output.LayerNorm), ``layer_{i}/mlp/fc`` (kernel [D, F];
intermediate.dense), ``layer_{i}/mlp/proj`` (kernel [F, D]; output.dense), ``layer_{i}/ln_2``
(output.LayerNorm), ``pooler`` (kernel [D, D]; pooler.dense). ``Bert``: ``encoder`` (exactly that
tree), ``mlm/{transform, ln, bias [V]}`` (cls.predictions) and ``nsp`` (kernel [D, 2];
cls.seq_relationship). ``init`` returns ``nn.LogicallyPartitioned`` boxes; ``init_bert`` plain
arrays.
"""

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxpretrain.errors import InputError
from jaxpretrain.models.common import init_token_model
from jaxpretrain.models.layers import activation, check_tokens, layer_norm, over_rows, partitioned
from jaxpretrain.models.masks import padding_mask
from jaxpretrain.models.positions import LearnedPositions
from jaxpretrain.models.transformer_stack import (
    KernelInits,
    LayerConfig,
    LayerNames,
    TransformerStack,
)

Array = Any

_STDDEV = 0.02  # BERT's initializer_range, for every kernel and embedding.

# Per-layer names, after Hugging Face's attention / (intermediate, output); one dropout module per
# residual branch.
_NAMES = LayerNames(self_attention="attention", mlp="mlp", dropout="dropout_{}")


def _dense(features: int, dtype: Any, name: str, axes: tuple = (None, "embed")) -> nn.Dense:
    """A Dense layer with BERT's init: kernel N(0, 0.02²), bias zero."""
    return nn.Dense(
        features,
        dtype=dtype,
        kernel_init=partitioned(nn.initializers.normal(_STDDEV), axes),
        bias_init=partitioned(nn.initializers.zeros, axes[1:]),
        name=name,
    )


def _embed(rows: int, features: int, dtype: Any, name: str, axis: str | None) -> nn.Embed:
    return nn.Embed(
        rows,
        features,
        dtype=dtype,
        embedding_init=partitioned(nn.initializers.normal(_STDDEV), (axis, "embed")),
        name=name,
    )


class _BertSettings(nn.Module):
    """The encoder's settings, shared by ``BertEncoder`` and ``Bert`` (documented there)."""

    vocab_size: int
    max_length: int
    width: int
    num_layers: int
    num_heads: int
    type_vocab_size: int = 2
    mlp_ratio: int = 4
    mlp_width: int | None = None
    dropout_rate: float = 0.0
    layer_norm_epsilon: float = 1e-12
    activation: str = "gelu"
    dtype: Any = jnp.float32
    attention: str = "einsum"

    def _validate(self) -> None:
        names = ("vocab_size", "max_length", "width", "num_layers", "num_heads")
        names += ("type_vocab_size", "mlp_ratio")
        for name in names:
            if getattr(self, name) < 1:
                raise InputError(f"BERT {name} must be positive, got {getattr(self, name)}.")
        if self.mlp_width is not None and self.mlp_width < 1:
            raise InputError(f"BERT mlp_width must be positive or None, got {self.mlp_width}.")
        if self.width % self.num_heads:
            raise InputError(
                f"BERT width {self.width} is not divisible by num_heads {self.num_heads}; "
                "pick a width that is a multiple of the head count."
            )
        activation(self.activation)

    def encoder_fields(self) -> dict:
        """These settings as ``BertEncoder`` keyword arguments."""
        return {f: getattr(self, f) for f in _ENCODER_FIELDS}


_ENCODER_FIELDS = (
    "vocab_size", "max_length", "width", "num_layers", "num_heads", "type_vocab_size",
    "mlp_ratio", "mlp_width", "dropout_rate", "layer_norm_epsilon", "activation", "dtype",
    "attention",
)  # fmt: skip


def _check_token_types(token_types: Array | None, tokens: Array, type_vocab_size: int) -> Array:
    """int [B, T] segment ids (zeros for None); concrete ids are checked against [0, S)."""
    if token_types is None:
        return jnp.zeros(tokens.shape, jnp.int32)
    concrete = None if isinstance(token_types, jax.core.Tracer) else np.asarray(token_types)
    token_types = jnp.asarray(token_types)
    if token_types.shape != tokens.shape or not jnp.issubdtype(token_types.dtype, jnp.integer):
        raise InputError(
            f"BERT token_types must be int [B, T] = {tokens.shape} like tokens, got dtype "
            f"{token_types.dtype} and shape {token_types.shape}."
        )
    if concrete is not None and concrete.size:
        low, high = int(concrete.min()), int(concrete.max())
        if low < 0 or high >= type_vocab_size:
            raise InputError(
                f"token_types span [{low}, {high}], outside [0, type_vocab_size="
                f"{type_vocab_size}); segment ids are 0 for sentence A and 1 for sentence B."
            )
    return token_types


class BertEncoder(_BertSettings):
    """The BERT encoder (module docstring): int tokens [B, T] -> pooled [B, D], or the sequence
    output [B, T, D] with ``pooled=False``.

    Attributes:
      vocab_size: V (HF ``vocab_size``).
      max_length: the number of learned positions (HF ``max_position_embeddings``); T ≤ it.
      width: D (HF ``hidden_size``).
      num_layers: L (HF ``num_hidden_layers``).
      num_heads: H (HF ``num_attention_heads``); must divide D.
      type_vocab_size: S, the number of segment ids (HF ``type_vocab_size``, 2).
      mlp_ratio: F / D when ``mlp_width`` is None (4 in BERT).
      mlp_width: F (HF ``intermediate_size``), overriding ``mlp_ratio``; None: mlp_ratio · D.
      dropout_rate: dropout after the embeddings' LayerNorm and on each residual branch (HF
        ``hidden_dropout_prob``); ``MultiHeadAttention`` has no dropout on α, so HF's
        ``attention_probs_dropout_prob`` has no counterpart. Active only with
        ``deterministic=False`` and a "dropout" rng.
      layer_norm_epsilon: ε of every LayerNorm (HF ``layer_norm_eps``, 1e-12).
      activation: the MLP's nonlinearity, "gelu" (erf; HF "gelu") or "gelu_tanh" (HF "gelu_new").
      dtype: compute dtype (e.g. jnp.bfloat16); params stay float32.
      attention: ``MultiHeadAttention.implementation``: "einsum", "blocked", "xla" or "cudnn".
      pooled: ``__call__`` returns the pooled [CLS] vector [B, D] (a classifier's input);
        False: the sequence output [B, T, D]. The params are the same either way.
    """

    pooled: bool = True

    @nn.compact
    def encode(
        self,
        tokens: Array,
        token_types: Array | None = None,
        valid: Array | None = None,
        *,
        deterministic: bool = True,
    ) -> tuple[Array, Array]:
        """The sequence output and the pooled vector.

        Args:
          tokens: int [B, T], ids in [0, V), T ≤ max_length (checked always; ids only when
            concrete, outside ``jit``).
          token_types: int [B, T] segment ids in [0, type_vocab_size) (0 for sentence A, 1 for
            B), or None for all zeros.
          valid: bool [B, T], False at padding: padded keys are never attended to, and padded
            positions' outputs are meaningless. None: all real.
          deterministic: False enables dropout (needs a "dropout" rng).

        Returns:
          (h [B, T, D], pooled [B, D]) in ``dtype``; pooled = tanh(W_pool · h[:, 0] + b_pool).
        """
        self._validate()
        tokens, valid = check_tokens(
            tokens, valid, vocab_size=self.vocab_size, max_length=self.max_length, model="BERT"
        )
        token_types = _check_token_types(token_types, tokens, self.type_vocab_size)
        d = self.width
        x = _embed(self.vocab_size, d, self.dtype, "word_embeddings", "vocab")(tokens)
        positions = LearnedPositions(
            self.max_length,
            d,
            embedding_init=nn.initializers.normal(_STDDEV),
            dtype=self.dtype,
            name="position_embeddings",
        )
        x = x + positions(tokens.shape[1])  # [B, T, D] + [T, D]
        types = _embed(self.type_vocab_size, d, self.dtype, "token_type_embeddings", None)
        x = layer_norm(self.layer_norm_epsilon, self.dtype, "embeddings_ln")(x + types(token_types))
        layer = LayerConfig(
            num_heads=self.num_heads,
            hidden=self.mlp_width or self.mlp_ratio * d,
            norm_placement="post",
            activation=self.activation,
            layer_norm_epsilon=self.layer_norm_epsilon,
            kernel_init=KernelInits.normal(_STDDEV),
            dropout_rate=self.dropout_rate,
            dtype=self.dtype,
            attention=self.attention,
            names=_NAMES,
        )
        stack = TransformerStack(self.num_layers, layer, layer_name="layer_{}")
        # The stack's layers live in this module's scope (layer_{i}), as HF's encoder.layer.{i}.
        nn.share_scope(self, stack)
        mask = None if valid is None else padding_mask(valid)  # [B, 1, T, T]
        h = stack(x, mask=mask, deterministic=deterministic)  # Dropout on x, then the layers.
        pooled = jnp.tanh(_dense(d, self.dtype, "pooler")(h[:, 0]))  # [B, D]
        return h, pooled

    def __call__(
        self,
        tokens: Array,
        token_types: Array | None = None,
        valid: Array | None = None,
        *,
        deterministic: bool = True,
    ) -> Array:
        """pooled [B, D] (``pooled=True``) or the sequence output [B, T, D]; arguments as
        ``encode``, in the positional order (tokens, token_types, valid) that the backbone
        registry feeds from the batch."""
        h, pooled = self.encode(tokens, token_types, valid, deterministic=deterministic)
        return pooled if self.pooled else h


class _MaskedLMHead(nn.Module):
    """cls.predictions: z = LN(act(x W + b)), logits = z · Eᵀ + b_out; [N, D] -> float32 [N, V]."""

    vocab_size: int
    activation: str
    layer_norm_epsilon: float
    dtype: Any

    @nn.compact
    def __call__(self, x: Array, embedding: Array) -> Array:
        d = x.shape[-1]
        z = activation(self.activation)(_dense(d, self.dtype, "transform")(x))
        z = layer_norm(self.layer_norm_epsilon, self.dtype, "ln")(z)
        bias = self.param(
            "bias", partitioned(nn.initializers.zeros, ("vocab",)), (self.vocab_size,)
        )
        logits = z @ jnp.asarray(embedding, self.dtype).T  # [N, D] · [D, V]
        return logits.astype(jnp.float32) + bias


class Bert(_BertSettings):
    """BERT for pretraining (HF ``BertForPreTraining``): the encoder, the masked-LM head tied to
    the word embeddings, and the next-sentence head (module docstring).

    Attributes: those of ``BertEncoder`` (except ``pooled``); ``encoder_fields()`` gives the
    matching ``BertEncoder`` settings, whose params equal this model's ``encoder`` subtree.
    """

    @nn.compact
    def __call__(
        self,
        tokens: Array,
        token_types: Array | None = None,
        valid: Array | None = None,
        *,
        masked_positions: Array | None = None,
        deterministic: bool = True,
    ) -> tuple[Array, Array]:
        """Masked-LM and next-sentence logits.

        Args:
          tokens, token_types, valid, deterministic: as ``BertEncoder.encode``.
          masked_positions: optional int [B, P], positions in [0, T) to predict (the masked
            tokens): the hidden states are gathered there before the masked-LM head, as
            google-research/bert's ``gather_indexes``, so the head costs P, not T, rows.

        Returns:
          (mlm_logits float32 [B, T, V], or [B, P, V] with ``masked_positions``;
          nsp_logits float32 [B, 2], class 0 = B follows A, 1 = B is random).
        """
        encoder = BertEncoder(**self.encoder_fields(), name="encoder")
        h, pooled = encoder.encode(tokens, token_types, valid, deterministic=deterministic)
        if masked_positions is not None:
            h = _gather(h, masked_positions)  # [B, P, D]
        embedding = nn.unbox(encoder.variables["params"]["word_embeddings"]["embedding"])
        head = _MaskedLMHead(
            self.vocab_size, self.activation, self.layer_norm_epsilon, self.dtype, name="mlm"
        )
        mlm_logits = over_rows(lambda rows: head(rows, embedding), h)  # [B, T|P, V]
        nsp = _dense(2, jnp.float32, "nsp", axes=("embed", None))
        return mlm_logits, nsp(pooled.astype(jnp.float32))


def _gather(h: Array, positions: Array) -> Array:
    """h[b, positions[b, p]]: [B, T, D] × int [B, P] -> [B, P, D]; concrete positions checked."""
    concrete = None if isinstance(positions, jax.core.Tracer) else np.asarray(positions)
    positions = jnp.asarray(positions)
    b, t, _ = h.shape
    if (
        positions.ndim != 2
        or positions.shape[0] != b
        or not jnp.issubdtype(positions.dtype, jnp.integer)
    ):
        raise InputError(
            f"masked_positions must be int [B, P] with B = {b}, got dtype {positions.dtype} and "
            f"shape {positions.shape}."
        )
    if concrete is not None and concrete.size and (concrete.min() < 0 or concrete.max() >= t):
        raise InputError(
            f"masked_positions span [{concrete.min()}, {concrete.max()}], outside the sequence "
            f"[0, {t})."
        )
    return jnp.take_along_axis(h, positions[:, :, None], axis=1)  # [B, P, D]


init_bert = init_token_model  # Params of a Bert or BertEncoder: plain float32 arrays.


_VARIANTS = {
    # Devlin et al. 2019 §3: BERT_BASE (110M) and BERT_LARGE (340M), V = 30522, 512 positions.
    "bert-base": dict(num_layers=12, num_heads=12, width=768),
    "bert-large": dict(num_layers=24, num_heads=16, width=1024),
    # Turc et al. 2019, "Well-Read Students Learn Better": the small BERTs (H = D / 64).
    "bert-tiny": dict(num_layers=2, num_heads=2, width=128),
    "bert-mini": dict(num_layers=4, num_heads=4, width=256),
    # For tests: a few tens of thousands of parameters.
    "bert-test": dict(num_layers=2, num_heads=2, width=32, vocab_size=101, max_length=64),
}


def _preset(variant: str, overrides: dict) -> dict:
    if variant not in _VARIANTS:
        raise InputError(
            f"Unknown BERT variant {variant!r}; known variants: {', '.join(_VARIANTS)}."
        )
    return {"vocab_size": 30522, "max_length": 512, **_VARIANTS[variant], **overrides}


def bert(variant: str, **overrides) -> Bert:
    """Builds a pretraining BERT from a preset name, e.g. ``bert("bert-base", dropout_rate=0.1)``.

    Args:
      variant: "bert-base" (L12 H12 D768), "bert-large" (L24 H16 D1024), "bert-tiny" (L2 H2
        D128), "bert-mini" (L4 H4 D256), all with V = 30522 and 512 positions, or "bert-test"
        (L2 H2 D32, V = 101, T ≤ 64) for tests.
      **overrides: Bert fields replacing the preset's.

    Returns:
      An unbound Bert module.
    """
    return Bert(**_preset(variant, overrides))


def bert_encoder(variant: str, **overrides) -> BertEncoder:
    """The ``BertEncoder`` of a preset (``bert``'s variants), e.g. for a fine-tune's backbone;
    ``overrides`` may also set ``pooled``."""
    return BertEncoder(**_preset(variant, overrides))
