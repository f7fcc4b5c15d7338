"""The Transformer layer and stack shared by the encoder-decoder Transformer (Vaswani et al.,
"Attention Is All You Need", 2017), GPT-2 (Radford et al. 2019) and BERT (Devlin et al. 2019).

A layer has sub-layers F_1 = SelfAttn, F_2 = CrossAttn(·, encoded) in a decoder (queries from
the layer, keys and values from the encoder output), and the position-wise MLP last,

    MLP(z) = act(z W_1 + b_1) W_2 + b_2                         (Vaswani et al. Eq. 2)

with act "relu", "gelu" (erf) or "gelu_tanh" (``layers.ACTIVATIONS``). Each F_i sits on a
residual branch with its own LayerNorm LN_i, placed after the sum or at the branch's input:

    post-LN:  x ← LN_i(x + Dropout(F_i(x)))        (Vaswani et al. §3.1; BERT)
    pre-LN:   x ← x + Dropout(F_i(LN_i(x)))        (GPT-2 §2.3; Xiong et al. 2020)

A stack is N layers, after dropout on its input (the embeddings' sum: Vaswani et al. §5.4,
GPT-2 and BERT all drop out there at the residual rate), and, for pre-LN, a final LayerNorm
LN_f, since the residual stream itself is never normalised. Embeddings, positions and token
types belong to the caller, who adds them before the stack.

Kernel initialisation (``KernelInits``): Glorot-uniform with each kernel's fans (tensor2tensor's
Transformer), or N(0, σ²) (BERT and GPT-2, σ = 0.02), where GPT-2 also scales the two kernels
that write into the residual stream (attention ``out``, MLP ``proj``) by 1/√(2L), since each of
its L layers adds two terms to that stream. Biases start at zero, LayerNorm scales at one.

Names. Flax derives each parameter's init rng and each dropout mask's rng from its module
path, so the names (``LayerNames``, ``TransformerStack.layer_name``) fix both the parameter tree
and the random streams. The LayerNorm of branch i is ``ln_{i}`` (i from 1); the translation
Transformer names its layers ``layer_{i}/{self_attn, ln_1, cross_attn, ln_2, ffn, ln_3}``, GPT-2
``h_{i}/{ln_1, attn, ln_2, mlp}`` (Hugging Face's names).
"""

import dataclasses
import math
from typing import Any, Callable

import flax.linen as nn
import jax.numpy as jnp

from jaxpretrain.errors import InputError
from jaxpretrain.models.attention import MultiHeadAttention
from jaxpretrain.models.attention_kernels import check_implementation
from jaxpretrain.models.layers import MLP, activation, layer_norm

Array = Any
Initializer = Callable[..., Array]

NORM_PLACEMENTS = ("pre", "post")  # Module docstring.


@dataclasses.dataclass(frozen=True)
class KernelInits:
    """Initialisers of a layer's kernels, each told its own layout.

    Attributes:
      qkv: the query/key/value kernels W[h, k, j] [H, K, D] (fan in D, fan out H·K).
      attention_out: the attention ``out`` kernel [H, K, D] (fan in H·K, fan out D).
      mlp_in: the MLP's ``fc`` kernel [D, F].
      mlp_out: the MLP's ``proj`` kernel [F, D].
    """

    qkv: Initializer
    attention_out: Initializer
    mlp_in: Initializer
    mlp_out: Initializer

    @classmethod
    def glorot_uniform(cls) -> "KernelInits":
        """Glorot-uniform with each kernel's fan in and fan out (tensor2tensor's Transformer)."""
        return cls(
            qkv=nn.initializers.xavier_uniform(in_axis=-1, out_axis=(0, 1)),
            attention_out=nn.initializers.xavier_uniform(in_axis=(0, 1), out_axis=-1),
            mlp_in=nn.initializers.xavier_uniform(),
            mlp_out=nn.initializers.xavier_uniform(),
        )

    @classmethod
    def normal(cls, stddev: float = 0.02, *, residual_layers: int | None = None) -> "KernelInits":
        """N(0, stddev²) for every kernel (BERT); with ``residual_layers`` = L, the attention
        ``out`` and MLP ``proj`` kernels get stddev/√(2L) instead (GPT-2 §2.3)."""
        out = stddev if residual_layers is None else stddev / math.sqrt(2 * residual_layers)
        normal = nn.initializers.normal
        return cls(
            qkv=normal(stddev),
            attention_out=normal(out),
            mlp_in=normal(stddev),
            mlp_out=normal(out),
        )


@dataclasses.dataclass(frozen=True)
class LayerNames:
    """Module names inside a layer (module docstring: they fix params and random streams).

    Attributes:
      self_attention, cross_attention, mlp: the sub-layers' names.
      dropout: the residual dropout's name, formatted with the branch's index from 0; a name
        without "{}" is one module for every branch, whose masks then differ by call order.
    """

    self_attention: str = "self_attn"
    cross_attention: str = "cross_attn"
    mlp: str = "ffn"
    dropout: str = "Dropout_0"


@dataclasses.dataclass(frozen=True)
class LayerConfig:
    """What a ``TransformerLayer`` computes. Defaults: the Transformer of Vaswani et al. as
    tensor2tensor builds it (post-LN, ReLU, ε = 1e-6, Glorot-uniform kernels).

    Attributes:
      num_heads: H; must divide the width D of the layer's input (per-head width K = D / H).
      hidden: F, the MLP's width (d_ff; 4D in GPT-2 and BERT).
      norm_placement: "post" (LayerNorm after each residual sum) or "pre" (at each branch's input).
      activation: the MLP's nonlinearity by name: "relu", "gelu" (erf) or "gelu_tanh".
      layer_norm_epsilon: ε of every LayerNorm (1e-6 tensor2tensor, 1e-5 GPT-2, 1e-12 BERT).
      kernel_init: the kernels' initialisers (``KernelInits``).
      dropout_rate: P_drop on each residual branch (and on a stack's input).
      dtype: compute dtype (e.g. jnp.bfloat16); params stay float32.
      attention: ``MultiHeadAttention.implementation``: "einsum", "blocked", "xla" or "cudnn".
      names: module names (``LayerNames``).
    """

    num_heads: int
    hidden: int
    norm_placement: str = "post"
    activation: str = "relu"
    layer_norm_epsilon: float = 1e-6
    kernel_init: KernelInits = KernelInits.glorot_uniform()
    dropout_rate: float = 0.0
    dtype: Any = jnp.float32
    attention: str = "einsum"
    names: LayerNames = LayerNames()

    def __post_init__(self):
        if self.num_heads < 1 or self.hidden < 1:
            raise InputError(
                f"num_heads and hidden must be positive, got {self.num_heads} and {self.hidden}."
            )
        if self.norm_placement not in NORM_PLACEMENTS:
            raise InputError(
                f"unknown norm_placement {self.norm_placement!r}; choose 'pre' (LayerNorm at each "
                "branch's input, GPT-2) or 'post' (after each residual sum, Vaswani et al., BERT)."
            )
        activation(self.activation)
        check_implementation(self.attention)
        if not 0.0 <= self.dropout_rate < 1.0:
            raise InputError(f"dropout_rate must be in [0, 1), got {self.dropout_rate}.")
        if self.layer_norm_epsilon <= 0:
            raise InputError(f"layer_norm_epsilon must be positive, got {self.layer_norm_epsilon}.")


class TransformerLayer(nn.Module):
    """One layer (module docstring): self-attention, cross-attention when given ``encoded``, the
    MLP, each on a residual branch with LayerNorm ``ln_{i}`` before ("pre") or after ("post").

    Params: ``{names.self_attention}``, ``{names.cross_attention}`` (``MultiHeadAttention``:
    query/key/value kernels [H, K, D], out [H, K, D]), ``{names.mlp}`` (``fc`` [D, F], ``proj``
    [F, D]) and ``ln_1``, ``ln_2`` (, ``ln_3``) with ``scale`` and ``bias`` [D].

    Attributes:
      config: what the layer computes (``LayerConfig``).
    """

    config: LayerConfig

    @nn.compact
    def __call__(
        self,
        x: Array,
        encoded: Array | None = None,
        *,
        mask: Array | None = None,
        cross_mask: Array | None = None,
        causal: bool = False,
        deterministic: bool,
        decode: bool = False,
    ) -> Array:
        """Runs the layer.

        Args:
          x: [B, T, D] inputs.
          encoded: [B, S, D_e], the encoder output cross-attention reads (decoder layers); None
            for a layer without cross-attention.
          mask: bool [B|1, H|1, T, T] for self-attention (e.g. padding), or None; with
            ``decode``, [B|1, H|1, T, S_c] over the S_c cache slots.
          cross_mask: bool [B|1, H|1, T, S] for cross-attention (e.g. the real source keys).
          causal: self-attention also masks keys t′ > t (with ``decode`` the cache masks).
          deterministic: False enables dropout (needs a "dropout" rng).
          decode: self-attention reads and extends its key/value cache (``attention_cache``).

        Returns:
          [B, T, D] in ``config.dtype``.
        """
        c, d = self.config, x.shape[-1]
        if d % c.num_heads:
            raise InputError(
                f"the layer's width {d} is not divisible by num_heads {c.num_heads}; pick a "
                "width that is a multiple of the head count."
            )
        dropouts = {}  # Name -> module: one name may serve every branch (LayerNames.dropout).

        def branch(i: int, sublayer: Callable[[Array], Array], x: Array) -> Array:
            name = c.names.dropout.format(i)
            if name not in dropouts:
                dropouts[name] = nn.Dropout(c.dropout_rate, name=name)
            dropout = dropouts[name]
            norm = layer_norm(c.layer_norm_epsilon, c.dtype, f"ln_{i + 1}")
            if c.norm_placement == "pre":
                return x + dropout(sublayer(norm(x)), deterministic=deterministic)
            return norm(x + dropout(sublayer(x), deterministic=deterministic))

        def attention(name: str) -> MultiHeadAttention:
            return MultiHeadAttention(
                num_heads=c.num_heads,
                head_dim=d // c.num_heads,
                dtype=c.dtype,
                kernel_init=c.kernel_init.qkv,
                out_kernel_init=c.kernel_init.attention_out,
                implementation=c.attention,
                name=name,
            )

        self_attention = attention(c.names.self_attention)
        x = branch(
            0,
            lambda y: self_attention(y, mask=mask, causal=causal and not decode, decode=decode),
            x,
        )
        if encoded is not None:
            cross_attention = attention(c.names.cross_attention)
            x = branch(1, lambda y: cross_attention(y, context=encoded, mask=cross_mask), x)
        mlp = MLP(
            c.hidden,
            activation=activation(c.activation),
            kernel_init=c.kernel_init.mlp_in,
            out_kernel_init=c.kernel_init.mlp_out,
            dtype=c.dtype,
            name=c.names.mlp,
        )
        return branch(1 if encoded is None else 2, mlp, x)


class TransformerStack(nn.Module):
    """N ``TransformerLayer``s after dropout on the input, then LayerNorm ``final_norm`` if named:
    an encoder (no ``encoded``), a decoder-only model (``causal``) or the decoder of an
    encoder-decoder (``causal`` and ``encoded``). [B, T, D] -> [B, T, D].

    Attributes:
      num_layers: N.
      layer: every layer's ``LayerConfig``.
      layer_name: the layers' names, formatted with i = 0..N-1 ("layer_{}"; GPT-2 "h_{}").
      final_norm: the name of a LayerNorm after the last layer (pre-LN stacks: GPT-2's "ln_f"),
        or None for none.
    """

    num_layers: int
    layer: LayerConfig
    layer_name: str = "layer_{}"
    final_norm: str | None = None

    @nn.compact
    def __call__(
        self,
        x: Array,
        encoded: Array | None = None,
        *,
        mask: Array | None = None,
        cross_mask: Array | None = None,
        causal: bool = False,
        deterministic: bool,
        decode: bool = False,
    ) -> Array:
        """Args: x [B, T, D], the embeddings' sum; the rest as ``TransformerLayer.__call__``,
        shared by every layer. Returns: [B, T, D] in ``layer.dtype``."""
        if self.num_layers < 1:
            raise InputError(f"num_layers must be positive, got {self.num_layers}.")
        x = nn.Dropout(self.layer.dropout_rate)(x, deterministic=deterministic)
        for i in range(self.num_layers):
            x = TransformerLayer(self.layer, name=self.layer_name.format(i))(
                x,
                encoded,
                mask=mask,
                cross_mask=cross_mask,
                causal=causal,
                deterministic=deterministic,
                decode=decode,
            )
        if self.final_norm is not None:
            x = layer_norm(self.layer.layer_norm_epsilon, self.layer.dtype, self.final_norm)(x)
        return x
