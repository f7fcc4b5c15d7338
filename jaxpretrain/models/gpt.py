"""GPT-2: a decoder-only Transformer language model (Radford et al., "Language Models are
Unsupervised Multitask Learners", 2019), built on GPT-1 (Radford et al. 2018) and the Transformer
decoder of Vaswani et al. 2017.

For tokens x[b, t] ∈ [0, V), width D, L blocks (GPT-2 §2.3 moves LayerNorm to each sub-block's
input and adds one after the last block):

    h⁰[t]   = W_e[x_t] + W_p[pos_t]                          (token + learned position embedding)
    a[t]    = hˡ[t] + Attn(LN_1(hˡ))[t]                      (causal: t attends to t′ ≤ t only)
    hˡ⁺¹[t] = a[t] + W_2 · GELU(W_1 · LN_2(a)[t] + b_1) + b_2  (MLP D -> 4D -> D)
    logits[t] = LN_f(hᴸ)[t] · W_eᵀ                           (output head tied to W_e)

The position of a token counts the real tokens before it in its row, pos_t = max(Σ_{t′≤t}
valid[t′] - 1, 0): 0, 1, … at the real tokens of unpadded and right-padded rows, and the first
real token of a left-padded row gets position 0 (as Hugging Face's position_ids from the
attention mask).

GELU is the tanh approximation GPT-2 used (Hendrycks & Gimpel 2016):
GELU(u) ≈ ½u(1 + tanh(√(2/π)(u + 0.044715u³))). LayerNorm uses ε = 1e-5.

Initialisation (GPT-2 §2.3): every weight from N(0, 0.02²), biases zero, LayerNorm scale one; the
two projections that write into the residual stream (attention ``out`` and the MLP's second
layer) are scaled by 1/√(2L), since each block adds two such terms to the residual.

The blocks and LN_f are a pre-LN ``TransformerStack`` (``transformer_stack``), which also applies
the dropout on h⁰.

Parameter layout (names chosen to mirror Hugging Face's ``transformer.*``):
``wte/embedding`` [V, D], ``wpe/embedding`` [max_length, D], ``h_{i}/ln_1``, ``h_{i}/attn``
(``MultiHeadAttention``: query/key/value kernels [H, K, D], out kernel [H, K, D]),
``h_{i}/ln_2``, ``h_{i}/mlp/fc`` (kernel [D, 4D]), ``h_{i}/mlp/proj`` (kernel [4D, D]), ``ln_f``.
``init`` returns ``nn.LogicallyPartitioned`` boxes; ``init_gpt`` returns plain arrays.
"""

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxpretrain.errors import InputError
from jaxpretrain.models.common import init_token_model
from jaxpretrain.models.layers import check_tokens, over_rows, partitioned
from jaxpretrain.models.masks import padding_mask
from jaxpretrain.models.positions import LearnedPositions
from jaxpretrain.models.transformer_stack import (
    KernelInits,
    LayerConfig,
    LayerNames,
    TransformerStack,
)

Array = Any

_STDDEV = 0.02  # GPT-2's init scale for every weight.

# Hugging Face's sub-module names (``interop.hf_gpt2`` maps them); one dropout module per residual
# branch, Dropout_0 and Dropout_1: module names seed the dropout masks, and these keep GPT's masks
# what they were before it shared its layer with the other Transformers.
_NAMES = LayerNames(self_attention="attn", mlp="mlp", dropout="Dropout_{}")


class GPT(nn.Module):
    """GPT-2 language model: int tokens [B, T] -> next-token logits float32 [B, T, V].

    Attributes:
      vocab_size: V.
      max_length: the number of learned positions (HF ``n_positions``); T must not exceed it.
      width: D (HF ``n_embd``).
      num_layers: L (HF ``n_layer``).
      num_heads: H (HF ``n_head``); must divide D.
      mlp_ratio: MLP hidden width / D (4 in GPT-2).
      dropout_rate: dropout on the embeddings and on each residual branch (HF ``embd_pdrop``,
        ``resid_pdrop``); active only with ``deterministic=False`` and a "dropout" rng.
        ``MultiHeadAttention`` has no dropout on α, so HF's ``attn_pdrop`` has no counterpart.
      layer_norm_epsilon: ε of every LayerNorm (1e-5 in GPT-2).
      dtype: compute dtype (e.g. jnp.bfloat16); params stay float32, logits are float32.
      attention: how attention is computed, ``MultiHeadAttention.implementation``: "einsum"
        (the equations; the default), "blocked" (flash-style, ``blocked_attention``), "xla" or
        "cudnn" (``jax.nn.dot_product_attention``; "cudnn" is flash attention on NVIDIA GPUs in
        bf16). Same function, same parameters.
    """

    vocab_size: int
    max_length: int
    width: int
    num_layers: int
    num_heads: int
    mlp_ratio: int = 4
    dropout_rate: float = 0.0
    layer_norm_epsilon: float = 1e-5
    dtype: Any = jnp.float32
    attention: str = "einsum"

    def _validate(self) -> None:
        for name in ("vocab_size", "max_length", "width", "num_layers", "num_heads", "mlp_ratio"):
            if getattr(self, name) < 1:
                raise InputError(f"GPT {name} must be positive, got {getattr(self, name)}.")
        if self.width % self.num_heads:
            raise InputError(
                f"GPT width {self.width} is not divisible by num_heads {self.num_heads}; "
                "pick a width that is a multiple of the head count."
            )

    @nn.compact
    def __call__(
        self,
        tokens: Array,
        *,
        valid: Array | None = None,
        deterministic: bool = True,
        decode: bool = False,
    ) -> Array:
        """Next-token logits.

        Args:
          tokens: int [B, T], ids in [0, V), T ≤ max_length. T is static, so a too-long input
            fails at trace time; ids are checked only when concrete (outside ``jit``): traced
            out-of-range ids are clipped by the embedding lookup, not reported.
          valid: optional bool [B, T], False at padding (left or right); padded keys are never
            attended to, padded queries get attention output 0 (their logits are meaningless),
            and positions count real tokens only (module docstring). None: all real.
          deterministic: False enables dropout (needs a "dropout" rng).
          decode: incremental decoding with a key/value cache (``init_cache``): ``tokens`` fill
            the next T cache slots (shared by all rows), ``valid`` marks which are real (e.g. a
            left-padded prompt's prefill; None: all real, as in every later step), each row's
            positions continue from its count of real cached tokens, and real tokens attend to
            every earlier real one. Call with
            ``apply({"params": p, "cache": c}, tokens, decode=True, mutable=["cache"])``.
            Under ``jit`` nothing checks that the cache has room: ``evaluate.generation`` does.

        Returns:
          float32 [B, T, V]; logits[b, t] depends on tokens[b, :t+1] (and, with ``decode``, on
          the cached positions) only.
        """
        self._validate()
        tokens, valid = check_tokens(
            tokens, valid, vocab_size=self.vocab_size, max_length=self.max_length, model="GPT"
        )

        wte = nn.Embed(
            self.vocab_size,
            self.width,
            dtype=self.dtype,
            embedding_init=partitioned(nn.initializers.normal(_STDDEV), ("vocab", "embed")),
            name="wte",
        )
        x = wte(tokens)  # [B, T, D]
        positions = LearnedPositions(self.max_length, self.width, dtype=self.dtype, name="wpe")
        if decode:
            position, mask = self._extend_cache(tokens.shape, valid)
            x = x + positions(position)  # [B, T, D]
        elif valid is None:
            x = x + positions(tokens.shape[1])  # [T, D]
            mask = None  # Attention adds the causal mask.
        else:
            x = x + positions(_positions(valid, 0))  # [B, T, D]
            mask = padding_mask(valid)  # [B, 1, T, T]; attention adds the causal mask.
        layer = LayerConfig(
            num_heads=self.num_heads,
            hidden=self.mlp_ratio * self.width,
            norm_placement="pre",
            activation="gelu_tanh",
            layer_norm_epsilon=self.layer_norm_epsilon,
            kernel_init=KernelInits.normal(_STDDEV, residual_layers=self.num_layers),
            dropout_rate=self.dropout_rate,
            dtype=self.dtype,
            attention=self.attention,
            names=_NAMES,
        )
        stack = TransformerStack(self.num_layers, layer, layer_name="h_{}", final_norm="ln_f")
        # The stack's modules (its input dropout, h_{i}, ln_f) live in this module's scope: the
        # top of the parameter tree, where Hugging Face's names and saved checkpoints have them.
        nn.share_scope(self, stack)
        x = stack(x, mask=mask, causal=True, deterministic=deterministic, decode=decode)
        # Tied head: logits[b,t,v] = Σ_j x[b,t,j] W_e[v,j].
        return over_rows(wte.attend, x).astype(jnp.float32)  # [B, T, V]

    def _extend_cache(self, shape: tuple[int, int], valid: Array | None) -> tuple[Array, Array]:
        """Records which of the next T cache slots are real; returns their positions int32
        [B, T] and the padding mask bool [B, 1, T, S] of queries × cache slots.

        Cache variables: ``index`` (int32, slots filled), ``key_valid`` (bool [B, S], False at
        padded slots) and ``position`` (int32 [B], real tokens per row). ``init`` sizes them from
        its input (S = T) and leaves them zero.
        """
        b, t = shape
        if valid is None:
            valid = jnp.ones(shape, jnp.bool_)
        index = self.variable("cache", "index", lambda: jnp.zeros((), jnp.int32))
        key_valid = self.variable("cache", "key_valid", jnp.zeros, shape, jnp.bool_)
        filled = self.variable("cache", "position", jnp.zeros, (b,), jnp.int32)
        position = _positions(valid, filled.value)  # [B, T]
        keys = jax.lax.dynamic_update_slice(key_valid.value, valid, (0, index.value))  # [B, S]
        if not self.is_initializing():
            index.value = index.value + t
            key_valid.value = keys
            filled.value = filled.value + jnp.sum(valid, axis=1, dtype=jnp.int32)
        return position, padding_mask(valid, keys)


def _positions(valid: Array, offset: Array | int) -> Array:
    """pos[b, t] = max(offset[b] + Σ_{t′≤t} valid[b, t′] - 1, 0): int32 [B, T] from bool [B, T]
    and the real tokens already before them, int32 [B] (or 0)."""
    offset = jnp.reshape(jnp.asarray(offset, jnp.int32), (-1, 1))  # [B or 1, 1]
    return jnp.maximum(offset + jnp.cumsum(valid, axis=1, dtype=jnp.int32) - 1, 0)


init_gpt = init_token_model  # Params of a GPT: plain float32 arrays.


def init_cache(model: GPT, batch_size: int, length: int) -> dict:
    """An empty key/value cache for ``decode=True``: room for ``length`` positions of
    ``batch_size`` rows.

    Args:
      model: a GPT module.
      batch_size: B, the rows decoded together.
      length: S ≤ model.max_length, the prompt plus every token to be generated.

    Returns:
      The "cache" collection, all zeros: per block ``attn/cached_{key,value}`` [B, H, S, K]
      (``dtype``) and ``attn/cache_index`` (int32, slots filled); and the model's ``index``
      (int32, slots filled), ``key_valid`` (bool [B, S], True at real tokens' slots) and
      ``position`` (int32 [B], real tokens cached per row).
    """
    if not 1 <= length <= model.max_length:
        raise InputError(
            f"cache length {length} must be in [1, max_length={model.max_length}]: shorten the "
            "prompt or generate fewer tokens."
        )
    tokens = jnp.zeros((batch_size, length), jnp.int32)
    shapes = jax.eval_shape(lambda: model.init(jax.random.key(0), tokens, decode=True)["cache"])
    return jax.tree_util.tree_map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)


_VARIANTS = {
    # Radford et al. 2019, Table 2 (sizes as released; the "117M" there counts 124M with wpe).
    "gpt2": dict(num_layers=12, num_heads=12, width=768),
    "gpt2-medium": dict(num_layers=24, num_heads=16, width=1024),
    "gpt2-large": dict(num_layers=36, num_heads=20, width=1280),
    "gpt2-xl": dict(num_layers=48, num_heads=25, width=1600),
    # For tests: a few thousand parameters.
    "gpt2-tiny": dict(num_layers=2, num_heads=2, width=32, vocab_size=101, max_length=64),
}


def gpt2(variant: str, **overrides) -> GPT:
    """Builds a GPT-2 from a preset name, e.g. ``gpt2("gpt2-medium", dtype=jnp.bfloat16)``.

    Args:
      variant: "gpt2" (124M), "gpt2-medium" (355M), "gpt2-large" (774M), "gpt2-xl" (1.5B), all
        with V = 50257 and max_length = 1024, or "gpt2-tiny" (V = 101, T ≤ 64) for tests.
      **overrides: GPT fields replacing the preset's (e.g. dropout_rate=0.1, vocab_size=...).

    Returns:
      An unbound GPT module.
    """
    if variant not in _VARIANTS:
        raise InputError(
            f"Unknown GPT-2 variant {variant!r}; known variants: {', '.join(_VARIANTS)}."
        )
    return GPT(**{"vocab_size": 50257, "max_length": 1024, **_VARIANTS[variant], **overrides})
