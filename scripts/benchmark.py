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
import json
import os
import statistics
import time

import jax
import jax.numpy as jnp
from absl import app, flags

from jaxpretrain import config as config_lib
from jaxpretrain import parallel
from jaxpretrain.train.experiment import build_experiment

# name -> (config file, config argument, whether MFU is meaningful for it).
BENCHMARKS = {
    "supervised_digits": ("configs/supervised_digits.py", None, True),
    "hashtag_digits": ("configs/hashtag_digits.py", None, True),
    "supervised_cifar10": ("configs/supervised_cifar10.py", None, True),
    "supervised_imagenet2012": ("configs/supervised_imagenet2012.py", None, True),
}

_ONLY = flags.DEFINE_list("only", [], "Entries to run (default: all that have data here).")
_STEPS = flags.DEFINE_integer("steps", 20, "Steps per timed repeat.")
_REPEATS = flags.DEFINE_integer("repeats", 5, "Timed repeats; the median is reported.")
_BATCH = flags.DEFINE_integer("batch_size", 0, "Override the configs' global batch (0 keeps it).")
_MOCK = flags.DEFINE_bool("mock_data", False, "Serve TFDS data sets from tfds.testing.mock_data.")
_JSON = flags.DEFINE_string("json", "", "Also write the results to this JSON file.")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def peak_matmul_flops(dtype=jnp.float32, size: int = 2048, repeats: int = 5) -> float:
    """Measured FLOP/s of one [size, size] @ [size, size] matmul on the first device."""
    a = jnp.ones((size, size), dtype)
    matmul = jax.jit(lambda x: x @ x)
    matmul(a).block_until_ready()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        matmul(a).block_until_ready()
        times.append(time.perf_counter() - start)
    return 2 * size**3 / statistics.median(times)


def _step_flops(experiment, batch) -> float | None:
    compiled = experiment.train_step.lower(experiment.state, batch).compile()
    analysis = compiled.cost_analysis()
    if isinstance(analysis, (list, tuple)):
        analysis = analysis[0]
    return float(analysis.get("flops", 0.0)) if analysis else None


def run_entry(name: str, config, *, steps: int, repeats: int, peak: float, with_mfu: bool) -> dict:
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
        "name": name, "device": jax.devices()[0].device_kind, "num_devices": mesh.size,
        "batch_size": config.batch_size, "examples_per_sec": median,
        "examples_per_sec_runs": rates, "input_examples_per_sec": input_rate,
    }
    if flops:
        # cost_analysis counts the FLOPs of the whole (partitioned) step on one device's share.
        per_device_rate = median / config.batch_size * flops
        result["step_gflops_per_device"] = flops / 1e9
        result["mfu"] = per_device_rate / peak
    return result


def main(argv):
    del argv
    names = _ONLY.value or list(BENCHMARKS)
    unknown = sorted(set(names) - set(BENCHMARKS))
    if unknown:
        raise app.UsageError(f"unknown benchmark {unknown}; known: {sorted(BENCHMARKS)}")
    peak = peak_matmul_flops()
    print(f"device: {jax.devices()[0].device_kind} x{jax.device_count()}; "
          f"measured fp32 matmul peak {peak / 1e9:.1f} GFLOP/s per device")
    mock = contextlib.nullcontext()
    if _MOCK.value:
        import tensorflow_datasets as tfds

        mock = tfds.testing.mock_data(num_examples=256)
    results = []
    with mock:
        for name in names:
            path, arg, with_mfu = BENCHMARKS[name]
            config = config_lib.load(os.path.join(ROOT, path), arg)
            if _BATCH.value:
                config.batch_size = _BATCH.value
            try:
                result = run_entry(name, config, steps=_STEPS.value, repeats=_REPEATS.value,
                                   peak=peak, with_mfu=with_mfu)
            except FileNotFoundError as error:  # A TFDS set that is not prepared here.
                print(f"{name:28s} skipped: {error}")
                continue
            results.append(result)
            mfu = f"{100 * result['mfu']:5.1f}%" if "mfu" in result else "   n/a"
            print(f"{name:28s} batch {result['batch_size']:5d}  {result['examples_per_sec']:10.1f} ex/s "
                  f"(median of {len(result['examples_per_sec_runs'])})  MFU {mfu}  "
                  f"input {result['input_examples_per_sec']:9.1f} ex/s")
    if _JSON.value:
        with open(_JSON.value, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    app.run(main)
