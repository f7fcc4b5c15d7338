"""Throughput of every method's train step, and model-FLOP utilisation of the matmul-heavy ones.

  python scripts/benchmark.py                       # every registered entry
  python scripts/benchmark.py --only=supervised_digits --repeats=5 --steps=20
  python scripts/benchmark.py --only=supervised_imagenet2012 --mock_data   # no data set needed
  python scripts/benchmark.py --only=gpt2_kjv,gpt2_peer_config,gpt2_124m --peers --steps=5

For each entry: build the experiment from its config exactly as training does, compile, warm up,
then time ``--steps`` steps ``--repeats`` times on one fixed batch already on the devices (so the
figure is the step, not the input pipeline, which is timed separately as ``input ex/s``). Reports
the median examples/s (and tokens/s for language models), MFU = (FLOPs of the compiled step, from
XLA's cost analysis) / step time / (peak FLOP/s of a large matmul in the same dtype, measured in
the same run), for GPT entries also the analytic ``model_mfu`` (``gpt_flops_per_token``), and the
memory of one step (``step_memory``). ``--peers`` also times each entry's PyTorch peer, one of
its repeats after each of ours (so both see the same load), and prints ours / peer of the medians.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import math
import os
import statistics
import time
from typing import Callable

import jax
from absl import app, flags

from jaxpretrain import config as config_lib
from jaxpretrain import parallel
from jaxpretrain.methods import get_method
from jaxpretrain.train.experiment import build_experiment


@dataclasses.dataclass(frozen=True)
class Entry:
    """One benchmark: a config file (and argument) with dotted-key overrides."""

    config: str
    arg: str | None = None
    overrides: tuple[tuple[str, object], ...] = ()
    mfu: bool = True  # Whether model-FLOP utilisation is meaningful (matmul/conv-heavy).
    torch_peer: str | None = None  # The eager-PyTorch peer in PEERS ("resnet", "gpt"), if any.


BENCHMARKS = {
    "supervised_digits": Entry("configs/supervised_digits.py"),
    "hashtag_digits": Entry("configs/hashtag_digits.py"),
    "supervised_cifar10": Entry("configs/supervised_cifar10.py"),
    "supervised_imagenet2012": Entry("configs/supervised_imagenet2012.py", torch_peer="resnet"),
    "gpt2_kjv": Entry("configs/gpt2_kjv.py"),  # Examples are windows of data.context tokens.
    # GPT-2 124M's blocks (L 12, H 12, D 768: 85.0M non-embedding parameters) at a short context.
    # BPE on the KJV stops at 20,611 ids, so V is 16,384, not GPT-2's 50,257: N = 97.6M with the
    # tied head (GPT-2's is 123.7M) and 97.7M parameters in all, not 124.4M.
    "gpt2_124m": Entry(
        "configs/gpt2_kjv.py",
        overrides=(
            ("model.num_layers", 12),
            ("model.num_heads", 12),
            ("model.width", 768),
            ("data.vocab_size", 16384),
            ("data.context", 128),
            ("batch_size", 8),
        ),
    ),
    # The eager-PyTorch peer's config: L 4, H 4, D 256, T 256, B 16, AdamW, fp32, bytes.
    # A BPE of 257 ids learns no merge: the ids are the 256 bytes and <|endoftext|>, one more
    # W_e row than a pure byte vocabulary (D = 256 parameters; the peer uses the same 257).
    "gpt2_peer_config": Entry(
        "configs/gpt2_kjv.py",
        overrides=(
            ("model.num_layers", 4),
            ("model.num_heads", 4),
            ("model.width", 256),
            ("data.vocab_size", 257),
            ("data.context", 256),
            ("batch_size", 16),
        ),
        torch_peer="gpt",
    ),
    "supervised_imagenet2012_bf16": Entry(
        "configs/supervised_imagenet2012.py",
        overrides=(("model.dtype", "bfloat16"),),
        torch_peer="resnet",
    ),
}

_ONLY = flags.DEFINE_list("only", [], "Entries to run (default: all that have data here).")
_STEPS = flags.DEFINE_integer("steps", 20, "Steps per timed repeat.")
_REPEATS = flags.DEFINE_integer("repeats", 5, "Timed repeats; the median is reported.")
_BATCH = flags.DEFINE_integer("batch_size", 0, "Override the configs' global batch (0 keeps it).")
_MOCK = flags.DEFINE_bool("mock_data", False, "Serve TFDS data sets from tfds.testing.mock_data.")
_PEERS = flags.DEFINE_bool("peers", False, "Also time each entry's PyTorch peer, if it has one.")
_SMOKE = flags.DEFINE_bool("smoke", False, "Load each config with arg 'smoke' (overrides apply).")
_JSON = flags.DEFINE_string("json", "", "Also write the results to this JSON file.")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@functools.cache
def peak_matmul_flops(dtype: str = "float32", repeats: int = 5, chain: int = 10) -> float:
    """Measured FLOP/s of square matmuls in ``dtype`` on the first device.

    Big matrices (8192 on accelerators, 2048 on CPU) and ``chain`` products per timing, so that
    dispatch overhead does not hide the arithmetic rate; the median of ``repeats`` timings.
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
    return chain * 2 * size**3 / statistics.median(times)


def _set(config, dotted: str, value) -> None:
    *parents, leaf = dotted.split(".")
    for key in parents:
        config = config[key]
    config[leaf] = value


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


def _step_flops(experiment, batch) -> float | None:
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


def _step_memory(compiled) -> dict:
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


def run_entry(name: str, config, *, steps: int, repeats: int, with_mfu: bool, peer=None) -> dict:
    """Times ``config``'s train step. ``peer(n)`` (optional) times n steps of the PyTorch peer and
    returns its examples/s; it runs after each of our repeats, so both see the same machine load."""
    mesh = parallel.make_mesh()
    experiment = build_experiment(config, mesh)
    batch = experiment.global_batch(0)
    flops = _step_flops(experiment, batch) if with_mfu else None
    # Compiling ahead of time for the memory analysis; the calls below reuse this compilation.
    compiled = experiment.train_step.lower(experiment.state, batch).compile()
    gpt_params = gpt_flop_params(experiment.state.params) if config.method == "gpt2" else None
    state = experiment.state
    for _ in range(2):  # Warm up.
        state, metrics = experiment.step(state, batch)
    jax.block_until_ready(metrics)
    rates, peer_rates = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(steps):
            state, metrics = experiment.step(state, batch)
        jax.block_until_ready(metrics)
        rates.append(steps * config.batch_size / (time.perf_counter() - start))
        if peer is not None:
            peer_rates.append(peer(steps))
    start = time.perf_counter()
    for step in range(steps):
        experiment.stream.local_batch(step)
    input_rate = steps * config.batch_size / jax.process_count() / (time.perf_counter() - start)
    median = statistics.median(rates)
    # Language models: each example is a window of data.context predicted tokens.
    context = config.data.get("context")
    result = {
        "name": name,
        "device": jax.devices()[0].device_kind,
        "num_devices": mesh.size,
        "batch_size": config.batch_size,
        "examples_per_sec": median,
        "examples_per_sec_runs": rates,
        "input_examples_per_sec": input_rate,
        **({"tokens_per_sec": median * context} if context else {}),
        **_step_memory(compiled),
    }
    if with_mfu:
        dtype = config.model.get("dtype", "float32")
        peak = peak_matmul_flops(dtype)
        result.update(dtype=dtype, peak_flops=peak)
        if flops:
            # The unpartitioned step's FLOPs, shared by every device of the mesh.
            result.update(
                step_gflops=flops / 1e9,
                mfu=median / config.batch_size * flops / (peak * mesh.size),
            )
        if gpt_params is not None:
            per_token = gpt_flops_per_token(
                gpt_params,
                num_layers=experiment.model.num_layers,
                width=experiment.model.width,
                context=context,
            )
            result.update(
                flop_params=gpt_params,
                model_flops_per_token=per_token,
                model_mfu=result["tokens_per_sec"] * per_token / (peak * mesh.size),
            )
    if peer_rates:
        peer_median = statistics.median(peer_rates)
        result.update(
            torch_examples_per_sec=peer_median,
            torch_examples_per_sec_runs=peer_rates,
            ours_over_torch=median / peer_median,
            **({"torch_tokens_per_sec": peer_median * context} if context else {}),
            # The peer is the same network: the same FLOPs per example.
            **{
                f"torch_{k}": result[k] / median * peer_median
                for k in ("mfu", "model_mfu")
                if k in result
            },
        )
    return result


def _resnet_peer(config) -> Callable[[int], float]:
    """torchvision's ResNet (GroupNorm) in eager PyTorch on this entry's images: examples/s."""
    from peers.torch_resnet import torch_resnet_trainer

    return torch_resnet_trainer(
        config.model.variant,
        batch_size=config.batch_size,
        image_size=config.data.image_size,
        num_classes=config.data.num_classes,
        dtype=config.model.get("dtype", "float32"),
    )


def _gpt_peer(config) -> Callable[[int], float]:
    """The same GPT (L, H, D, V, T, B) in eager PyTorch: examples (windows of T tokens) per s."""
    from peers.torch_gpt import torch_gpt_trainer

    model = get_method(config.method).make_model(config)
    trainer = torch_gpt_trainer(
        num_layers=model.num_layers,
        num_heads=model.num_heads,
        width=model.width,
        context=config.data.context,
        vocab_size=model.vocab_size,
        batch_size=config.batch_size,
    )
    return lambda steps: trainer.time_steps(steps) / config.data.context


PEERS = {"resnet": _resnet_peer, "gpt": _gpt_peer}


def _describe(result: dict) -> str:
    mfu = f"{100 * result['mfu']:5.1f}% of {result['dtype']}" if "mfu" in result else "n/a"
    line = (
        f"{result['name']:28s} batch {result['batch_size']:5d}  {result['examples_per_sec']:10.1f} ex/s "
        f"(median of {len(result['examples_per_sec_runs'])})  MFU {mfu}  "
        f"input {result['input_examples_per_sec']:9.1f} ex/s"
    )
    if "tokens_per_sec" in result:
        line += f"  {result['tokens_per_sec']:.0f} tokens/s"
    if "model_mfu" in result:
        n, per_token = result["flop_params"] / 1e6, result["model_flops_per_token"] / 1e6
        line += (
            f"  model MFU {100 * result['model_mfu']:.1f}% (N {n:.2f}M, {per_token:.1f} MFLOP/tok)"
        )
    if "step_memory_mib" in result:
        line += f"  step memory {result['step_memory_mib']:.0f} MiB"
    if "device_peak_mib" in result:
        line += f" (device peak {result['device_peak_mib']:.0f} MiB)"
    if "torch_examples_per_sec" in result:
        line += (
            f"\n{result['name']:28s} torch eager peer {result['torch_examples_per_sec']:.1f} ex/s"
        )
        if "torch_tokens_per_sec" in result:
            line += f" = {result['torch_tokens_per_sec']:.0f} tokens/s"
        if "torch_model_mfu" in result:
            line += f", model MFU {100 * result['torch_model_mfu']:.1f}%"
        line += f"; jaxpretrain / torch = {result['ours_over_torch']:.2f}x (repeats alternated)"
    return line


def main(argv):
    del argv
    names = _ONLY.value or list(BENCHMARKS)
    unknown = sorted(set(names) - set(BENCHMARKS))
    if unknown:
        raise app.UsageError(f"unknown benchmark {unknown}; known: {sorted(BENCHMARKS)}")
    print(
        f"device: {jax.devices()[0].device_kind} x{jax.device_count()}; measured matmul peak "
        f"{peak_matmul_flops('float32') / 1e9:.1f} GFLOP/s per device in float32"
    )
    mock = contextlib.nullcontext()
    if _MOCK.value:
        import tensorflow_datasets as tfds

        mock = tfds.testing.mock_data(num_examples=256)
    results = []
    with mock:
        for name in names:
            entry = BENCHMARKS[name]
            arg = "smoke" if _SMOKE.value else entry.arg
            config = config_lib.load(os.path.join(ROOT, entry.config), arg)
            for key, value in entry.overrides:
                _set(config, key, value)
            if _BATCH.value:
                config.batch_size = _BATCH.value
            peer = PEERS[entry.torch_peer](config) if _PEERS.value and entry.torch_peer else None
            try:
                result = run_entry(
                    name,
                    config,
                    steps=_STEPS.value,
                    repeats=_REPEATS.value,
                    with_mfu=entry.mfu,
                    peer=peer,
                )
            except FileNotFoundError as error:  # A TFDS set that is not prepared here.
                print(f"{name:28s} skipped: {error}")
                continue
            results.append(result)
            print(_describe(result), flush=True)
    if _JSON.value:
        with open(_JSON.value, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    app.run(main)
