"""Throughput of every method's train step, and model-FLOP utilisation of the matmul-heavy ones.

  python scripts/benchmark.py                       # every registered entry
  python scripts/benchmark.py --only=supervised_digits --repeats=5 --steps=20
  python scripts/benchmark.py --only=supervised_imagenet2012 --mock_data   # no data set needed

For each entry: build the experiment from its config exactly as training does, compile, warm up,
then time ``--steps`` steps ``--repeats`` times on one fixed batch already on the devices (so the
figure is the step, not the input pipeline, which is timed separately as ``input ex/s``). Reports
the median examples/s, and MFU = (FLOPs of the compiled step, from XLA's cost analysis) / step
time / (peak FLOP/s of a large matmul in the same dtype, measured in the same run).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import os
import statistics
import time

import jax
from absl import app, flags

from jaxpretrain import config as config_lib
from jaxpretrain import parallel
from jaxpretrain.train.experiment import build_experiment


@dataclasses.dataclass(frozen=True)
class Entry:
    """One benchmark: a config file (and argument) with dotted-key overrides."""

    config: str
    arg: str | None = None
    overrides: tuple[tuple[str, object], ...] = ()
    mfu: bool = True  # Whether model-FLOP utilisation is meaningful (matmul/conv-heavy).
    torch_peer: bool = False  # Time the same torchvision ResNet (GroupNorm) in eager PyTorch.


BENCHMARKS = {
    "supervised_digits": Entry("configs/supervised_digits.py"),
    "hashtag_digits": Entry("configs/hashtag_digits.py"),
    "supervised_cifar10": Entry("configs/supervised_cifar10.py"),
    "supervised_imagenet2012": Entry("configs/supervised_imagenet2012.py", torch_peer=True),
    "gpt2_kjv": Entry("configs/gpt2_kjv.py"),  # Examples are windows of data.context tokens.
    "supervised_imagenet2012_bf16": Entry(
        "configs/supervised_imagenet2012.py",
        overrides=(("model.dtype", "bfloat16"),),
        torch_peer=True,
    ),
}

_ONLY = flags.DEFINE_list("only", [], "Entries to run (default: all that have data here).")
_STEPS = flags.DEFINE_integer("steps", 20, "Steps per timed repeat.")
_REPEATS = flags.DEFINE_integer("repeats", 5, "Timed repeats; the median is reported.")
_BATCH = flags.DEFINE_integer("batch_size", 0, "Override the configs' global batch (0 keeps it).")
_MOCK = flags.DEFINE_bool("mock_data", False, "Serve TFDS data sets from tfds.testing.mock_data.")
_PEERS = flags.DEFINE_bool("peers", False, "Also time each entry's PyTorch peer, if it has one.")
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


def run_entry(name: str, config, *, steps: int, repeats: int, with_mfu: bool) -> dict:
    mesh = parallel.make_mesh()
    experiment = build_experiment(config, mesh)
    batch = experiment.global_batch(0)
    flops = _step_flops(experiment, batch) if with_mfu else None
    state = experiment.state
    for _ in range(2):  # Compile and warm up.
        state, metrics = experiment.step(state, batch)
    jax.block_until_ready(metrics)
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(steps):
            state, metrics = experiment.step(state, batch)
        jax.block_until_ready(metrics)
        rates.append(steps * config.batch_size / (time.perf_counter() - start))
    start = time.perf_counter()
    for step in range(steps):
        experiment.stream.local_batch(step)
    input_rate = steps * config.batch_size / jax.process_count() / (time.perf_counter() - start)
    median = statistics.median(rates)
    result = {
        "name": name,
        "device": jax.devices()[0].device_kind,
        "num_devices": mesh.size,
        "batch_size": config.batch_size,
        "examples_per_sec": median,
        "examples_per_sec_runs": rates,
        "input_examples_per_sec": input_rate,
        # Language models: each example is a window of data.context predicted tokens.
        **({"tokens_per_sec": median * config.data.context} if "context" in config.data else {}),
    }
    if flops:
        # The unpartitioned step's FLOPs, shared by every device of the mesh.
        dtype = config.model.get("dtype", "float32")
        peak = peak_matmul_flops(dtype)
        result.update(
            step_gflops=flops / 1e9,
            dtype=dtype,
            peak_flops=peak,
            mfu=median / config.batch_size * flops / (peak * mesh.size),
        )
    return result


def _run_peers(names: list[str], results: list[dict]) -> None:
    """Time the PyTorch peer of each entry that has one; print our/peer ratio from this run."""
    from peers.torch_resnet import torch_resnet_examples_per_sec

    for result in results:
        entry = BENCHMARKS[result["name"]]
        if not entry.torch_peer:
            continue
        config = config_lib.load(os.path.join(ROOT, entry.config), entry.arg)
        rate = torch_resnet_examples_per_sec(
            config.model.variant,
            batch_size=result["batch_size"],
            image_size=config.data.image_size,
            num_classes=config.data.num_classes,
            dtype=result.get("dtype", "float32"),
            steps=_STEPS.value,
            repeats=_REPEATS.value,
        )
        result["torch_examples_per_sec"] = rate
        print(
            f"{result['name']:28s} torch eager peer {rate:10.1f} ex/s; "
            f"jaxpretrain / torch = {result['examples_per_sec'] / rate:.2f}x"
        )


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
            config = config_lib.load(os.path.join(ROOT, entry.config), entry.arg)
            for key, value in entry.overrides:
                _set(config, key, value)
            if _BATCH.value:
                config.batch_size = _BATCH.value
            try:
                result = run_entry(
                    name, config, steps=_STEPS.value, repeats=_REPEATS.value, with_mfu=entry.mfu
                )
            except FileNotFoundError as error:  # A TFDS set that is not prepared here.
                print(f"{name:28s} skipped: {error}")
                continue
            results.append(result)
            mfu = f"{100 * result['mfu']:5.1f}% of {result['dtype']}" if "mfu" in result else "n/a"
            print(
                f"{name:28s} batch {result['batch_size']:5d}  {result['examples_per_sec']:10.1f} ex/s "
                f"(median of {len(result['examples_per_sec_runs'])})  MFU {mfu}  "
                f"input {result['input_examples_per_sec']:9.1f} ex/s"
                + (
                    f"  {result['tokens_per_sec']:.0f} tokens/s"
                    if "tokens_per_sec" in result
                    else ""
                )
            )
    if _PEERS.value:
        _run_peers(names, results)
    if _JSON.value:
        with open(_JSON.value, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    app.run(main)
