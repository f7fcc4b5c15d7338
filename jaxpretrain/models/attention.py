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

Masks are boolean, True where query t may attend to key t′, of shape [B|1, H|1, T, S]. Masked
logits are replaced by the most negative finite float32 before a float32 softmax, and α is then
multiplied by "does row t allow any key", so a query with no allowed key gets α = 0 exactly, an
attention output of 0 (the layer outputs the ``out`` bias) and finite gradients, never NaN.

Two implementations compute the same function (``MultiHeadAttention.implementation``):
"einsum", the equations above written out (α is materialised, [B, H, T, S] in float32: the
reference, and the only one that can return α), and ``jax.nn.dot_product_attention`` with
implementation "xla" or "cudnn" (cuDNN's fused flash attention on NVIDIA GPUs, bf16/fp16 only:
α is never stored, and with ``causal=True`` the blocks above the diagonal are skipped, so
memory grows as T, not T², and long contexts run faster). Decoding always uses "einsum".

Key/value cache for decoding (``decode=True``, self-attention only): the module keeps the
projected Key and Value of every position seen so far in the "cache" collection, as
``cached_key``/``cached_value`` [B, H, S, K] (S = the cache length) and ``cache_index`` (int32,
positions filled).
A call with T new positions writes their Key/Value at ``index .. index+T-1`` and attends from
query t (absolute position index + t) to every cached key t′ ≤ index + t, so running a prompt
then one token at a time gives the same outputs as one causal pass over the whole sequence,
at O(S) instead of O(S²) work per new token. Create the cache by ``init`` with ``decode=True``
on a [B, S] input (its length fixes S), then ``apply(..., decode=True, mutable=["cache"])``.
"""

import functools
import math
from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

Array = Any
Initializer = Callable[..., Array]

# GPT-2 and BERT both initialise every projection from N(0, 0.02²).
default_kernel_init = nn.initializers.normal(stddev=0.02)

IMPLEMENTATIONS = ("einsum", "xla", "cudnn")  # See the module docstring.

# Logical axis names of the parameters; parallel/ maps them to mesh axes.
_IN_KERNEL_AXES = ("heads", "kv", "embed")  # W_Q/W_K/W_V[h, k, j]
_IN_BIAS_AXES = ("heads", "kv")
_OUT_KERNEL_AXES = ("heads", "kv", "embed")  # W_O[h, i, J']
_OUT_BIAS_AXES = ("embed",)


def _check_mask(mask: Array, name: str = "mask") -> Array:
    mask = jnp.asarray(mask)
    if mask.dtype != jnp.bool_:
        raise ValueError(
            f"{name} must be boolean (True = may attend), got dtype {mask.dtype}. "
            "Additive float masks (0/-inf) are not accepted: convert with `mask == 0`."
        )
    return mask


def causal_mask(length: int) -> Array:
    """The causal (autoregressive) mask: query t may attend to key t′ iff t′ ≤ t.

    Args:
      length: T, the sequence length (queries and keys alike).

    Returns:
      bool [1, 1, T, T], lower triangular including the diagonal.
    """
    if length < 1:
        raise ValueError(f"causal_mask needs a positive length, got {length}.")
    return jnp.tril(jnp.ones((length, length), jnp.bool_))[None, None]  # [1, 1, T, T]


def padding_mask(q_valid: Array, k_valid: Array | None = None) -> Array:
    """Allows query t to attend to key t′ iff both are real tokens (not padding).

    Args:
      q_valid: bool [B, T], True at real query positions.
      k_valid: bool [B, S], True at real key positions; defaults to ``q_valid`` (self-attention).

    Returns:
      bool [B, 1, T, S]. Rows of padded queries are all False, so their attention output is 0.
    """
    q_valid = _check_mask(q_valid, "q_valid")
    k_valid = q_valid if k_valid is None else _check_mask(k_valid, "k_valid")
    if q_valid.ndim != 2 or k_valid.ndim != 2:
        raise ValueError(
            f"padding_mask expects q_valid [B, T] and k_valid [B, S], got shapes "
            f"{q_valid.shape} and {k_valid.shape}."
        )
    if q_valid.shape[0] != k_valid.shape[0]:
        raise ValueError(
            f"q_valid and k_valid disagree on the batch size: {q_valid.shape} vs {k_valid.shape}."
        )
    return q_valid[:, None, :, None] & k_valid[:, None, None, :]  # [B, 1, T, S]


def combine_masks(*masks: Array | None) -> Array | None:
    """The logical and of boolean masks, skipping None; None if every mask is None.

    Args:
      *masks: bool arrays of one rank whose shapes broadcast, e.g. [1, 1, T, T] and [B, 1, T, T].

    Returns:
      bool array of the broadcast shape, or None.
    """
    masks = [_check_mask(m) for m in masks if m is not None]
    if not masks:
        return None
    if len({m.ndim for m in masks}) != 1:
        raise ValueError(
            f"combine_masks needs masks of one rank, got shapes {[m.shape for m in masks]}."
        )
    out = masks[0]
    for m in masks[1:]:
        out = jnp.logical_and(out, m)
    return out


def _einsum_attention(
    query: Array, key: Array, value: Array, mask: Array | None, dtype: Any
) -> tuple[Array, Array]:
    """The lecture's equations: heads V [B, H, T, K] (``dtype``) and α float32 [B, H, T, S]
    from Query [B, H, T, K], Key and Value [B, H, S, K] and a mask [B|1, H|1, T, S] or None."""
    # s[b,h,t,t′] = (1/√K) Σ_k Query[b,h,t,k] Key[b,h,t′,k], in float32 for the softmax.
    logits = jnp.einsum("bhtk,bhsk->bhts", query, key).astype(jnp.float32)
    logits = logits / math.sqrt(query.shape[-1])
    if mask is not None:
        # A finite floor (not -inf) keeps fully masked rows finite: softmax of a constant
        # row is uniform, and the any-allowed factor below zeroes it.
        logits = jnp.where(mask, logits, jnp.finfo(jnp.float32).min)
    weights = jax.nn.softmax(logits, axis=-1)  # α [B, H, T, S]
    if mask is not None:
        weights = weights * jnp.any(mask, axis=-1, keepdims=True)
    # V[b,h,t,i] = Σ_t′ α[b,h,t,t′] Value[b,h,t′,i]
    heads = jnp.einsum("bhts,bhsi->bhti", weights.astype(dtype), value)  # [B, H, T, K]
    return heads, weights


def _fused_attention(
    query: Array, key: Array, value: Array, mask: Array | None, causal: bool, implementation: str
) -> Array:
    """The same heads V [B, H, T, K] through ``jax.nn.dot_product_attention`` (which takes
    [B, T, H, K]); α is never stored. Rows with no allowed key give 0, as in the einsums: the
    kernel lets them attend everywhere (so no kernel meets an empty softmax, whose statistics
    could turn into NaN in its backward pass) and their output is then replaced by 0."""
    allowed = None if mask is None else jnp.any(mask, axis=-1, keepdims=True)  # [B|1, H|1, T, 1]
    swap = functools.partial(jnp.swapaxes, axis1=1, axis2=2)  # [B, H, T, K] <-> [B, T, H, K]
    heads = swap(
        jax.nn.dot_product_attention(
            swap(query),
            swap(key),
            swap(value),
            mask=None if mask is None else mask | ~allowed,
            is_causal=causal,
            implementation=implementation,
        )
    )  # [B, H, T, K]
    if mask is None:  # Causal rows always see their own key.
        return heads
    return jnp.where(allowed, heads, 0).astype(heads.dtype)


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
      implementation: "einsum" (the lecture's equations), or "xla" / "cudnn" for
        ``jax.nn.dot_product_attention`` (module docstring); "cudnn" needs an NVIDIA GPU and a
        bf16/fp16 ``dtype``.
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
        if self.implementation not in IMPLEMENTATIONS:
            raise ValueError(
                f"unknown attention implementation {self.implementation!r}; choose one of "
                f"{', '.join(IMPLEMENTATIONS)}."
            )
        if self.num_heads < 1 or self.head_dim < 1:
            raise ValueError(
                f"num_heads and head_dim must be positive, got {self.num_heads} and "
                f"{self.head_dim}."
            )
        if self.out_features is not None and self.out_features < 1:
            raise ValueError(f"out_features must be positive or None, got {self.out_features}.")
        for name, a in (("x", x), ("context", context)):
            if a.ndim != 3:
                raise ValueError(
                    f"MultiHeadAttention expects {name} of shape [B, T, D], got shape {a.shape} "
                    f"(rank {a.ndim})."
                )
            if not jnp.issubdtype(a.dtype, jnp.floating):
                raise ValueError(
                    f"MultiHeadAttention expects floating {name}, got dtype {a.dtype}; embed "
                    "token ids first."
                )
        if context.shape[0] != x.shape[0]:
            raise ValueError(
                f"x and context disagree on the batch size: x {x.shape}, context {context.shape}."
            )
        if mask is not None:
            b, t, s, h = x.shape[0], x.shape[1], context.shape[1], self.num_heads
            ok = mask.ndim == 4 and all(m == n or m == 1 for m, n in zip(mask.shape, (b, h, t, s)))
            if not ok or mask.shape[2:] != (t, s):
                raise ValueError(
                    f"mask must have shape [B|1, H|1, T, S] = [{b}|1, {h}|1, {t}, {s}], got "
                    f"{mask.shape}."
                )

    def _check_cudnn(self, t: int, s: int) -> None:
        """What cuDNN's flash attention supports (jax's check_is_flash_attention), checked
        before tracing so that a misfit is one clear error, not a failure inside jit."""
        problems = []
        if jnp.dtype(self.dtype) not in (jnp.bfloat16, jnp.float16):
            problems.append(f"dtype bfloat16 or float16 (got {jnp.dtype(self.dtype).name})")
        if self.head_dim % 8 or self.head_dim > 256:
            problems.append(
                f"a head width that is a multiple of 8, at most 256 (got {self.head_dim})"
            )
        if t % 2 or s % 2:
            problems.append(f"even sequence lengths (got T {t}, S {s})")
        if problems:
            raise ValueError(
                "attention implementation 'cudnn' (cuDNN flash attention) needs "
                + "; ".join(problems)
                + ": change that, or use implementation 'xla' or 'einsum'."
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
          decode: self-attention over a key/value cache (module docstring): append this call's
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
            mask = _check_mask(mask)
        if (decode or causal) and not self_attention:
            raise ValueError(
                "decode=True and causal=True are for self-attention only; for cross-attention "
                "pass the encoder output as context without them (every key is visible)."
            )
        if return_weights and self.implementation != "einsum":
            raise ValueError(
                f"return_weights needs implementation='einsum' ({self.implementation!r} never "
                "stores α)."
            )
        self._validate(x, context, None if decode else mask)
        if self.implementation == "cudnn" and not decode:
            self._check_cudnn(x.shape[1], context.shape[1])

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
            key, value, mask = self._extend_cache(key, value, mask)
        if self.implementation != "einsum" and not decode:
            heads = _fused_attention(query, key, value, mask, causal, self.implementation)
        else:
            if causal and not decode:
                mask = combine_masks(causal_mask(x.shape[1]), mask)
            heads, weights = _einsum_attention(query, key, value, mask, self.dtype)
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

    def _extend_cache(self, key: Array, value: Array, mask: Array | None):
        """Writes Key/Value [B, H, T, K] at the cache index; returns the whole cache [B, H, S, K]
        and the mask [B|1, H|1, T, S] letting query t see cached keys t′ ≤ index + t."""
        initialised = self.has_variable("cache", "cached_key")
        cached_key = self.variable("cache", "cached_key", jnp.zeros, key.shape, key.dtype)
        cached_value = self.variable("cache", "cached_value", jnp.zeros, value.shape, value.dtype)
        index = self.variable("cache", "cache_index", lambda: jnp.zeros((), jnp.int32))
        if not initialised:  # ``init``: the input's length T sets the cache length S.
            return key, value, combine_masks(causal_mask(key.shape[2]), mask)
        b, h, t, _ = key.shape
        if cached_key.value.shape[:2] != (b, h) or t > cached_key.value.shape[2]:
            raise ValueError(
                f"decode step of shape [B, H, T] = {[b, h, t]} does not fit the cache "
                f"{list(cached_key.value.shape[:3])}; initialise the cache for this batch size "
                "and a length covering prompt plus new tokens."
            )
        start = index.value
        cached_key.value = jax.lax.dynamic_update_slice(cached_key.value, key, (0, 0, start, 0))
        cached_value.value = jax.lax.dynamic_update_slice(
            cached_value.value, value, (0, 0, start, 0)
        )
        index.value = start + t
        s = cached_key.value.shape[2]
        # Query t sits at absolute position start + t and may see keys t′ ≤ start + t.
        seen = jnp.arange(s)[None, :] <= (start + jnp.arange(t))[:, None]  # [T, S]
        if mask is not None and (mask.ndim != 4 or mask.shape[2:] != (t, s)):
            raise ValueError(f"with decode, mask must be [B|1, H|1, {t}, {s}], got {mask.shape}.")
        return cached_key.value, cached_value.value, combine_masks(seen[None, None], mask)
