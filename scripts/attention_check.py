"""The attention implementations against the einsum equations, and their speed, on this machine.

For each implementation this platform runs (einsum, blocked and xla everywhere, cudnn on NVIDIA
GPUs), causal self-attention heads [B, H, T, K] in --dtype: the loss Σ out ∘ g (its error relative
to Σ |out ∘ g|, as its terms can cancel), its gradient's norm and the largest output difference,
each against the einsum heads computed in float32, and the median time of the forward and
backward pass (--repeats alternated repeats). Exits 1 if an implementation disagrees by more than
the dtype's tolerance.

  python scripts/attention_check.py --length=256 --dtype=float32          # CPU: B 16, H 4
  python scripts/attention_check.py --batch=4 --heads=12 --length=1024    # GPU: bf16, cudnn
"""

from __future__ import annotations

import statistics
import sys
import time

import jax
import jax.numpy as jnp
from absl import flags

from jaxpretrain import cli
from jaxpretrain.models.attention_kernels import IMPLEMENTATIONS

_BATCH = flags.DEFINE_integer("batch", 16, "B, sequences.")
_HEADS = flags.DEFINE_integer("heads", 4, "H, heads.")
_LENGTH = flags.DEFINE_integer("length", 1024, "T, positions (even: cuDNN needs it).")
_HEAD_DIM = flags.DEFINE_integer("head_dim", 64, "K, the width of a head.")
_DTYPE = flags.DEFINE_enum("dtype", "bfloat16", ["bfloat16", "float32"], "Inputs' dtype.")
_REPEATS = flags.DEFINE_integer("repeats", 10, "Timed repeats; the median is reported.")
TOLERANCE = {"bfloat16": 2e-2, "float32": 1e-4}  # Relative, on the loss and gradient norm.


def implementations() -> list[str]:
    """The implementations this platform runs: cuDNN's only on NVIDIA GPUs."""
    gpu = jax.devices()[0].platform == "gpu"
    return [name for name in IMPLEMENTATIONS if name != "cudnn" or gpu]


def loss_and_grad(name: str):
    """(q, k, v, g) -> (Σ heads ∘ g, (dq, dk, dv)), jitted, for implementation ``name``."""

    def loss(q, k, v, g):
        heads = IMPLEMENTATIONS[name](q, k, v, None, True)
        return jnp.sum(heads.astype(jnp.float32) * g), heads

    return jax.jit(jax.value_and_grad(loss, argnums=(0, 1, 2), has_aux=True))


def main(argv):
    del argv
    dtype = jnp.dtype(_DTYPE.value)
    shape = (_BATCH.value, _HEADS.value, _LENGTH.value, _HEAD_DIM.value)
    keys = jax.random.split(jax.random.key(0), 4)
    q, k, v = (jax.random.normal(key, shape).astype(dtype) for key in keys[:3])
    g = jax.random.normal(keys[3], shape)
    (ref_loss, ref_heads), ref_grads = loss_and_grad("einsum")(
        *(x.astype(jnp.float32) for x in (q, k, v)), g
    )
    ref_norm = float(jnp.sqrt(sum(jnp.sum(d**2) for d in ref_grads)))
    loss_scale = float(jnp.sum(jnp.abs(ref_heads * g)))  # The loss's terms can cancel: Σ|terms|.
    names = implementations()
    steps = {name: loss_and_grad(name) for name in names}
    times: dict[str, list[float]] = {name: [] for name in names}
    for _ in range(_REPEATS.value + 1):  # The first round compiles.
        for name, step in steps.items():
            start = time.perf_counter()
            jax.block_until_ready(step(q, k, v, g))
            times[name].append(time.perf_counter() - start)
    print(f"{jax.devices()[0].device_kind}: B H T K {shape}, {dtype.name}, causal")
    failed = []
    for name in names:
        (loss, heads), grads = steps[name](q, k, v, g)
        norm = float(jnp.sqrt(sum(jnp.sum(d.astype(jnp.float32) ** 2) for d in grads)))
        loss_error = abs(float(loss) - float(ref_loss)) / loss_scale
        norm_error = abs(norm - ref_norm) / ref_norm
        worst = float(jnp.max(jnp.abs(heads.astype(jnp.float32) - ref_heads)))
        agrees = max(loss_error, norm_error) <= TOLERANCE[dtype.name]
        failed += [] if agrees else [name]
        print(
            f"{name:7s} {statistics.median(times[name][1:]) * 1e3:8.2f} ms fwd+bwd  "
            f"loss rel. err {loss_error:.1e}  grad norm rel. err {norm_error:.1e}  "
            f"max |Δheads| {worst:.1e}  {'ok' if agrees else 'DISAGREES'}"
        )
    if failed:
        sys.exit(f"disagree with the einsum equations beyond {TOLERANCE[dtype.name]}: {failed}")


if __name__ == "__main__":
    cli.run(main)
