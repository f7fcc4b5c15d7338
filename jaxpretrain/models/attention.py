"""Multi-head scaled dot-product attention (Vaswani et al., "Attention Is All You Need", 2017).

In the lecture's notation, for layer ℓ, head h, query time t, key time t′ (written s in code),
input width j, per-head width k (keys) and i (values):

    Query[ℓ,h,t,k] = Σ_j W_Q[ℓ,h,k,j] M[ℓ,t,j]        (Key, Value likewise, from the context)
    s[ℓ,h,t,t′]    = (1/√K) Σ_k Query[ℓ,h,t,k] Key[ℓ,h,t′,k]          (Vaswani et al. Eq. 1)
    α[ℓ,h,t,t′]    = softmax over t′ of s[ℓ,h,t,t′]
    V[ℓ,h,t,i]     = Σ_t′ α[ℓ,h,t,t′] Value[ℓ,h,t′,i]
    M[ℓ+1,t,J]     = concatenation of the H heads' V[ℓ,h,t,i], J = H·I, then the output
                     projection W_O (Vaswani et al. §3.2.2, MultiHead = Concat(head_1..H) W^O).

One module is one layer, so ℓ is dropped. Kernels keep the lecture's index order: W_Q is
``query/kernel`` of shape [H, K, D] (h, k, j). Values use the same per-head width as keys
(I = K). Concatenating the heads and multiplying by W^O ∈ R^{H·K × D_out} is the same as
contracting over (h, i) with W^O reshaped to [H, K, D_out], which is how ``out/kernel`` is stored,
so no reshape of activations is needed.

Masks are boolean, True where query t may attend to key t′, of shape [B|1, H|1, T, S]
(``masks``); a query with no allowed key gets attention output 0, so the layer outputs the
``out`` bias there. The softmax and V are computed by ``attention_kernels`` ("einsum", the
equations written out; "blocked", flash-style blocks with an online softmax; or
``jax.nn.dot_product_attention`` with "xla" or "cudnn": the same function); decoding reads and
extends a key/value cache (``attention_cache``) and always uses "einsum".

Parameters carry logical axis names (``nn.with_logical_partitioning``: "heads", "kv", "embed");
``parallel.rules`` maps them to mesh axes (heads over ``model``: tensor parallelism).
"""

from typing import Any, Callable

import flax.linen as nn
import jax.numpy as jnp

from jaxpretrain.errors import InputError
from jaxpretrain.models.attention_cache import extend_cache
from jaxpretrain.models.attention_kernels import (
    IMPLEMENTATIONS,
    check_cudnn,
    check_implementation,
    einsum_attention,
)
from jaxpretrain.models.masks import causal_mask, check_mask, combine_masks

Array = Any
Initializer = Callable[..., Array]

# GPT-2 and BERT both initialise every projection from N(0, 0.02²).
default_kernel_init = nn.initializers.normal(stddev=0.02)

# Logical axis names of the parameters (module docstring).
_IN_KERNEL_AXES = ("heads", "kv", "embed")  # W_Q/W_K/W_V[h, k, j]
_IN_BIAS_AXES = ("heads", "kv")
_OUT_KERNEL_AXES = ("heads", "kv", "embed")  # W_O[h, i, J']
_OUT_BIAS_AXES = ("embed",)


class _InProjection(nn.Module):
    """Query/Key/Value projection: [B, T, D] -> [B, H, T, K], kernel W[h, k, j] [H, K, D]."""

    num_heads: int
    head_dim: int
    use_bias: bool
    dtype: Any
    kernel_init: Initializer
    bias_init: Initializer

    @nn.compact
    def __call__(self, x: Array) -> Array:
        h, k, d = self.num_heads, self.head_dim, x.shape[-1]
        kernel = self.param(
            "kernel", nn.with_logical_partitioning(self.kernel_init, _IN_KERNEL_AXES), (h, k, d)
        )
        # Query[b,h,t,k] = Σ_j W[h,k,j] M[b,t,j], with (b, t) flattened to the row n = b·T + t
        # (rank-2 dots are the fast ones on XLA:CPU, see layers.over_rows).
        b, t, _ = x.shape
        y = jnp.einsum("nj,hkj->nhk", x.reshape(b * t, d), kernel.astype(self.dtype))
        if self.use_bias:
            bias = self.param(
                "bias", nn.with_logical_partitioning(self.bias_init, _IN_BIAS_AXES), (h, k)
            )
            y = y + bias.astype(self.dtype)
        return jnp.swapaxes(y.reshape(b, t, h, k), 1, 2)  # [B, H, T, K]


class _OutProjection(nn.Module):
    """Concat over heads then W_O: [B, H, T, K] -> [B, T, D_out], kernel [H, K, D_out]."""

    features: int
    use_bias: bool
    dtype: Any
    kernel_init: Initializer
    bias_init: Initializer

    @nn.compact
    def __call__(self, v: Array) -> Array:
        b, h, t, k = v.shape
        kernel = self.param(
            "kernel",
            nn.with_logical_partitioning(self.kernel_init, _OUT_KERNEL_AXES),
            (h, k, self.features),
        )
        # M[b,t,J'] = Σ_{h,i} V[b,h,t,i] W_O[h,i,J']  (= Concat_h(V) · W_O with J = h·K + i),
        # with (b, t) flattened to n as in _InProjection.
        v = jnp.swapaxes(v, 1, 2).reshape(b * t, h, k)  # [B·T, H, K]
        y = jnp.einsum("nhi,hiJ->nJ", v, kernel.astype(self.dtype)).reshape(b, t, -1)
        if self.use_bias:
            bias = self.param(
                "bias",
                nn.with_logical_partitioning(self.bias_init, _OUT_BIAS_AXES),
                (self.features,),
            )
            y = y + bias.astype(self.dtype)
        return y


class MultiHeadAttention(nn.Module):
    """Multi-head self-attention, or cross-attention when a ``context`` is given.

    Params: ``query``, ``key``, ``value`` each hold ``kernel`` [H, K, D] (W[h, k, j]) and ``bias``
    [H, K]; ``out`` holds ``kernel`` [H, K, D_out] and ``bias`` [D_out]. For cross-attention the
    ``key``/``value`` kernels are [H, K, D_c], D_c the context's width. Kernels carry the logical
    axes ("heads", "kv", "embed"), biases ("heads", "kv") and ("embed",), so ``init`` returns
    ``nn.LogicallyPartitioned`` boxes (``nn.get_partition_spec`` reads them, ``nn.unbox`` strips
    them; ``apply`` accepts either).

    Attributes:
      num_heads: H.
      head_dim: K, the per-head width of queries, keys and values.
      out_features: D_out, the output width; None means the input width D.
      use_bias: add biases to the four projections (GPT-2 and BERT do).
      dtype: compute dtype of the projections (e.g. jnp.bfloat16); params stay float32 and the
        softmax is always float32.
      kernel_init: initialiser of the query/key/value kernels, N(0, 0.02²) by default. A fan-in
        based initialiser must be told the layout: in_axis=-1, out_axis=(0, 1).
      out_kernel_init: initialiser of the ``out`` kernel (fan in over axes (0, 1)); None means
        ``kernel_init``. GPT-2 scales it by 1/√(2·layers).
      bias_init: initialiser of every bias, zeros by default.
      implementation: "einsum" (the lecture's equations), "blocked" (``blocked_attention``:
        flash-style, memory linear in T, causal blocks above the diagonal skipped), or "xla" /
        "cudnn" for ``jax.nn.dot_product_attention`` (``attention_kernels``); "cudnn" needs an
        NVIDIA GPU and a bf16/fp16 ``dtype``.
    """

    num_heads: int
    head_dim: int
    out_features: int | None = None
    use_bias: bool = True
    dtype: Any = jnp.float32
    kernel_init: Initializer = default_kernel_init
    out_kernel_init: Initializer | None = None
    bias_init: Initializer = nn.initializers.zeros
    implementation: str = "einsum"

    def _validate(self, x: Array, context: Array, mask: Array | None) -> None:
        check_implementation(self.implementation)
        if self.num_heads < 1 or self.head_dim < 1:
            raise InputError(
                f"num_heads and head_dim must be positive, got {self.num_heads} and "
                f"{self.head_dim}."
            )
        if self.out_features is not None and self.out_features < 1:
            raise InputError(f"out_features must be positive or None, got {self.out_features}.")
        for name, a in (("x", x), ("context", context)):
            if a.ndim != 3:
                raise InputError(
                    f"MultiHeadAttention expects {name} of shape [B, T, D], got shape {a.shape} "
                    f"(rank {a.ndim})."
                )
            if not jnp.issubdtype(a.dtype, jnp.floating):
                raise InputError(
                    f"MultiHeadAttention expects floating {name}, got dtype {a.dtype}; embed "
                    "token ids first."
                )
        if context.shape[0] != x.shape[0]:
            raise InputError(
                f"x and context disagree on the batch size: x {x.shape}, context {context.shape}."
            )
        if mask is not None:
            b, t, s, h = x.shape[0], x.shape[1], context.shape[1], self.num_heads
            ok = mask.ndim == 4 and all(m == n or m == 1 for m, n in zip(mask.shape, (b, h, t, s)))
            if not ok or mask.shape[2:] != (t, s):
                raise InputError(
                    f"mask must have shape [B|1, H|1, T, S] = [{b}|1, {h}|1, {t}, {s}], got "
                    f"{mask.shape}."
                )

    @nn.compact
    def __call__(
        self,
        x: Array,
        *,
        context: Array | None = None,
        mask: Array | None = None,
        causal: bool = False,
        decode: bool = False,
        return_weights: bool = False,
    ) -> Array | tuple[Array, Array]:
        """Attends from every position of ``x`` to every allowed position of ``context``.

        Args:
          x: [B, T, D] floating inputs M[t, j]; they give the queries.
          context: [B, S, D_c] floating inputs giving keys and values (cross-attention); None
            means ``x`` itself (self-attention, S = T).
          mask: bool [B|1, H|1, T, S], True where query t may attend to key t′ (see
            ``causal_mask``, ``padding_mask``, ``combine_masks``); None allows every pair.
            With ``decode``, S is the cache length and the causal mask over the cache is
            added here, so ``mask`` is only needed for more (e.g. padded keys).
          causal: self-attention only: also mask key t′ > t (``causal_mask``); a fused
            implementation then skips those blocks instead of masking them. Implied by
            ``decode``.
          decode: self-attention over a key/value cache (``attention_cache``): append this call's
            T positions to the "cache" collection and attend causally to all cached ones.
            Under ``jit`` nothing checks that index + T ≤ S: the caller must.
          return_weights: also return α (needs ``implementation="einsum"``).

        Returns:
          [B, T, D_out] outputs in ``dtype``; with ``return_weights``, also α as float32
          [B, H, T, S], whose rows sum to 1 where any key is allowed and are 0 elsewhere.
        """
        x = jnp.asarray(x)
        self_attention = context is None
        context = x if self_attention else jnp.asarray(context)
        if mask is not None:
            mask = check_mask(mask)
        if (decode or causal) and not self_attention:
            raise InputError(
                "decode=True and causal=True are for self-attention only; for cross-attention "
                "pass the encoder output as context without them (every key is visible)."
            )
        if return_weights and self.implementation != "einsum":
            raise InputError(
                f"return_weights needs implementation='einsum' ({self.implementation!r} never "
                "stores α)."
            )
        self._validate(x, context, None if decode else mask)
        if self.implementation == "cudnn" and not decode:
            check_cudnn(self.dtype, self.head_dim, x.shape[1], context.shape[1])

        x = x.astype(self.dtype)
        context = x if self_attention else context.astype(self.dtype)
        proj = dict(
            num_heads=self.num_heads,
            head_dim=self.head_dim,
            use_bias=self.use_bias,
            dtype=self.dtype,
            kernel_init=self.kernel_init,
            bias_init=self.bias_init,
        )
        query = _InProjection(**proj, name="query")(x)  # [B, H, T, K]
        key = _InProjection(**proj, name="key")(context)  # [B, H, S, K]
        value = _InProjection(**proj, name="value")(context)  # [B, H, S, K] (I = K)
        if decode:
            key, value, mask = extend_cache(self, key, value, mask)
        if return_weights or decode:  # Only the einsums give α; the cache masks causally.
            if causal and not decode:
                mask = combine_masks(causal_mask(x.shape[1]), mask)
            heads, weights = einsum_attention(query, key, value, mask, self.dtype)
        else:
            heads = IMPLEMENTATIONS[self.implementation](query, key, value, mask, causal)
        out = _OutProjection(
            features=self.out_features or x.shape[-1],
            use_bias=self.use_bias,
            dtype=self.dtype,
            kernel_init=self.out_kernel_init or self.kernel_init,
            bias_init=self.bias_init,
            name="out",
        )(heads)  # [B, T, D_out]
        if return_weights:
            return out, weights
        return out
