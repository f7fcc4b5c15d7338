"""FLOP counts, measured peak FLOP/s and step memory: the terms of model-FLOP utilisation.

MFU = (model FLOPs per example × examples/s) / (peak FLOP/s of the devices), with the peak
measured on the same devices in the same run (``peak_matmul_flops``) rather than taken from a
data sheet, and the model FLOPs either counted by XLA (``step_flops``) or, for the Transformers,
by the analytic 6N + 12·L·T·D rule (``gpt_flops_per_token``, ``bert_flops_per_token``) or,
for ELMo's character CNN and LSTMs, 6 × the forward multiply-adds (``elmo_flops_per_token``).
"""

from __future__ import annotations

import functools
import math
import time
from typing import NamedTuple

import jax


@functools.cache
def peak_matmul_flops(dtype: str = "float32", repeats: int = 5, chain: int = 10) -> float:
    """Measured FLOP/s of square matmuls in ``dtype`` on the first device.

    Big matrices (8192 on accelerators, 2048 on CPU) and ``chain`` products per timing, so that
    dispatch overhead does not hide the arithmetic rate; the fastest of ``repeats`` timings, since
    a peak is what the device can reach (a process sharing the CPUs only ever slows a timing).
    """
    size = 2048 if jax.devices()[0].platform == "cpu" else 8192
    a = jax.random.normal(jax.random.PRNGKey(0), (size, size), dtype) / size**0.5

    @jax.jit
    def products(x):
        for _ in range(chain):
            x = x @ a
        return x

    products(a).block_until_ready()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        products(a).block_until_ready()
        times.append(time.perf_counter() - start)
    return chain * 2 * size**3 / min(times)


def gpt_flop_params(params) -> int:
    """N of the 6N FLOP count of a ``models.GPT``: every parameter but the position table ``wpe``.

    That is Kaplan et al.'s non-embedding N (each block's kernels, biases and LayerNorms,
    L·(12D² + 13D), and the final LayerNorm, 2D) plus the tied W_e [V, D]: its input lookup is a
    gather (no FLOPs), but as the output head it takes V·D multiply-adds per token.
    """
    return sum(
        math.prod(leaf.shape)
        for key, subtree in params.items()
        if key != "wpe"
        for leaf in jax.tree.leaves(subtree)
    )


def gpt_flops_per_token(flop_params: int, *, num_layers: int, width: int, context: int) -> int:
    """Training FLOPs per token of a GPT: 6N + 12·L·T·D (Kaplan et al. 2020, Sec. 2.1; PaLM,
    Chowdhery et al. 2022, App. B), with N from ``gpt_flop_params``, T the context, D the width.

    Forward: 2N (a multiply-add per parameter; biases and LayerNorms are counted alike, < 0.5% of
    N for D ≥ 256) plus, per layer, 2·T·D for the scores QKᵀ and 2·T·D for α·V. The backward pass
    costs twice the forward, so training is 3 × (2N + 4·L·T·D). The causal mask is not discounted
    (the step computes all T² scores, about half of them masked); softmax, GELU, normalisation
    statistics, the loss and the optimizer (O(D) per token, not O(D²)) are left out.
    """
    return 6 * flop_params + 12 * num_layers * context * width


class BertFlopParams(NamedTuple):
    """The N of a BERT's 6N FLOP count, split by how many positions each parameter runs on.

    Attributes:
        token: run at every one of the T positions: the embeddings' LayerNorm and the L layers,
            L·(12D² + 13D) + 2D (the word, position and token-type lookups are gathers, no
            FLOPs).
        prediction: run at each of the P masked positions only: the masked-LM head's transform
            (D² + D), its LayerNorm (2D), the decoder tied to the word embeddings (V·D, counted
            once, as the head's matmul) and its bias (V).
        instance: run once per instance, at [CLS]: the pooler (D² + D) and the next-sentence
            head (2D + 2).
    """

    token: int
    prediction: int
    instance: int

    @property
    def total(self) -> int:
        """Every parameter but the position and token-type tables."""
        return self.token + self.prediction + self.instance


def _size(tree) -> int:
    return sum(math.prod(leaf.shape) for leaf in jax.tree.leaves(tree))


def bert_flop_params(params) -> BertFlopParams:
    """``BertFlopParams`` of a ``models.Bert``'s params: ``encoder`` (its word_embeddings,
    position_embeddings, token_type_embeddings, embeddings_ln, layer_{i} and pooler), ``mlm``
    (transform, ln, bias) and ``nsp``."""
    encoder = params["encoder"]
    lookups = ("word_embeddings", "position_embeddings", "token_type_embeddings")
    return BertFlopParams(
        token=_size({k: v for k, v in encoder.items() if k not in (*lookups, "pooler")}),
        prediction=_size(params["mlm"]) + _size(encoder["word_embeddings"]),
        instance=_size(encoder["pooler"]) + _size(params["nsp"]),
    )


def bert_flops_per_token(
    flop_params: BertFlopParams, *, num_layers: int, width: int, length: int, predictions: int
) -> float:
    """Training FLOPs per token (of the B·T a step trains on) of BERT pretraining whose masked-LM
    head runs at P of the T positions (gathered, as ``models.Bert`` with ``masked_positions``):

        6·N_token + 6·N_prediction·P/T + 6·N_instance/T + 12·L·T·D

    with the N's of ``bert_flop_params``, T = ``length`` (tokens per instance, padding included),
    P = ``predictions`` (the data's max_predictions: the head runs on all P slots, used or not),
    D the width. It is ``gpt_flops_per_token``'s rule (6N: a forward multiply-add per parameter
    and token, the backward twice that; 4·L·T·D forward for QKᵀ and α·V) with each parameter
    counted at the share of the tokens it is applied to; a head run on every token would make it
    6N + 12·L·T·D exactly. The padding mask is not discounted (all T² scores are computed).
    """
    per_instance = (
        6 * flop_params.token * length
        + 6 * flop_params.prediction * predictions
        + 6 * flop_params.instance
        + 12 * num_layers * length**2 * width
    )
    return per_instance / length


def elmo_flops_per_token(
    model_config, vocab_size: int, max_chars: int, sampled_softmax: int = 0
) -> int:
    """Training FLOPs per token position (of the B·T a step runs on) of ELMo pretraining
    (``models.ElmoLM`` of a ``config.model`` block): 6 × the forward multiply-adds, the
    convention of ``gpt_flops_per_token`` (forward 2 FLOPs per multiply-add, backward twice the
    forward), with every kernel and bias entry one multiply-add each time it is applied:

    - character convolutions (VALID, over C = ``max_chars`` characters of E dims), per filter
      width w with F_w filters: (C - w + 1)·(w·E·F_w + F_w);
    - highway layers, each a gate and a transform over S = Σ F_w: 2·(S² + S);
    - the projection to P: S·P + P;
    - per direction and LSTM layer (F cells): the input half of the gates P·4F + 4F, the
      recurrent half P·4F and the projection F·P (neither with a bias): 9·F·P + 4F;
    - the shared softmax, applied at every position for both directions: 2·(P·V + V); with a
      sampled softmax of K candidates (``sampled_softmax``), the target's and the candidates'
      rows only: 2·(P + 1)·(K + 1).

    Left out: the character lookup (a gather), the max-pool, the activations, the gates'
    element-wise products, the residual sums, the clipping, dropout, the loss and the optimizer
    (all O(S + F + V) per position, not products of two sizes). Padding positions are counted:
    the step computes them.
    """
    e, p, f = model_config.char_features, model_config.projection, model_config.lstm_features
    filters = [tuple(pair) for pair in model_config.filters]
    s = sum(count for _, count in filters)
    convolutions = sum((max_chars - w + 1) * (w * e * n + n) for w, n in filters)
    highway = model_config.highway_layers * 2 * (s * s + s)
    projection = s * p + p
    lstm = 2 * model_config.num_layers * (9 * f * p + 4 * f)
    rows = sampled_softmax + 1 if sampled_softmax else vocab_size
    softmax = 2 * (p + 1) * rows
    return 6 * (convolutions + highway + projection + lstm + softmax)


def step_flops(experiment, batch) -> float | None:
    """FLOPs of one train step, from XLA's cost analysis of the step compiled for the CPU.

    The arithmetic of the model is the same on every platform, but only the CPU compiler counts
    all of it: on GPU, convolutions handed to cuDNN count as (almost) zero and the lowered step
    has no analysis (jax 0.11.2), so we compile the same step for one CPU device to count.
    """
    cpu = jax.sharding.SingleDeviceSharding(jax.devices("cpu")[0])

    def on_cpu(x):
        return jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=cpu)

    step = experiment.train_step.__wrapped__  # The step function before jit bound its shardings.
    try:
        compiled = jax.jit(step).lower(*jax.tree.map(on_cpu, (experiment.state, batch))).compile()
        analysis = compiled.cost_analysis()
    except Exception as error:  # Counting FLOPs must never stop the timing.
        print(f"no FLOP count ({type(error).__name__}: {error}); MFU not reported")
        return None
    if isinstance(analysis, (list, tuple)):
        analysis = analysis[0]
    return float(analysis.get("flops", 0.0)) if analysis else None


def step_memory(compiled) -> dict:
    """Memory of one train step on one device, in MiB.

    ``step_memory_mib``: XLA's buffer assignment of the compiled step, arguments + outputs -
    aliased (the donated state is updated in place) + temporaries, i.e. parameters, optimizer
    state, batch and the activations kept for the backward pass; on every platform.
    ``device_peak_mib``: the allocator's peak on device 0 since the process started, where the
    platform keeps one (GPU, TPU; not the CPU): this entry's if it is the run's first or largest.
    """
    stats = compiled.memory_analysis()
    result = {}
    if stats is not None:
        live = (
            stats.argument_size_in_bytes
            + stats.output_size_in_bytes
            - stats.alias_size_in_bytes
            + stats.temp_size_in_bytes
        )
        result["step_memory_mib"] = live / 2**20
    device = jax.devices()[0].memory_stats() or {}
    if "peak_bytes_in_use" in device:
        result["device_peak_mib"] = device["peak_bytes_in_use"] / 2**20
    return result
