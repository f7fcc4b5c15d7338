"""Memory and FLOPs of a run before launch: the train step compiled ahead of time.

``dry_run(config)`` plans the run (``experiment.plan_experiment``: no parameter is allocated),
lowers and compiles the program the run executes for the configured mesh from abstract arguments
(as MaxText's ahead-of-time ``train_compile`` does: the jitted step, or the loop of
``config.steps_per_dispatch`` = k steps over k stacked batches) and reports, per device,

    memory = arguments + outputs − aliased (the donated state, updated in place) + temporaries

from XLA's buffer assignment: parameters, optimizer state, the batch slice and the activations
kept for the backward pass; and the FLOPs of one step from XLA's cost analysis of the partitioned
program (one device's share; the CPU compiler counts everything, GPU compilers leave out what
cuDNN runs; a loop's body counts once, so with ``microbatches = k`` the gradient's FLOPs are one
slice's, and the step's about k times them; the loop over k steps counts one step). A step that
needs more than a device holds raises :class:`StepTooLargeError`, which names the config knobs
that shrink it.
"""

from __future__ import annotations

import dataclasses
import os

import jax
import ml_collections

from jaxpretrain import parallel
from jaxpretrain.config import validate
from jaxpretrain.errors import JaxpretrainError
from jaxpretrain.train.experiment import make_mesh, plan_experiment

KNOBS = (
    "config.microbatches (activations shrink ~1/k for k slices per step), "
    "config.fsdp=True (parameters and optimizer state split over the data axis), "
    "config.mesh.model (tensor parallelism: heads, MLP columns and vocabulary split over that "
    "many devices) or config.model.dtype='bfloat16' (activations halve)"
)


class StepTooLargeError(JaxpretrainError, MemoryError):
    """The compiled train step needs more memory than a device holds."""


@dataclasses.dataclass(frozen=True)
class StepCost:
    """One compiled train step on one device of ``mesh`` ({axis: size})."""

    mesh: dict[str, int]
    memory_bytes: int  # arguments + outputs - aliased + temporaries
    argument_bytes: int
    state_bytes: int  # Parameters and optimizer state in all, before any split.
    temp_bytes: int
    flops: float | None  # One device's share of one step; None where XLA gives no analysis.
    microbatches: int  # The scan over slices that XLA's FLOP count sees once.
    device_bytes: int | None  # What one device holds; None if unknown.
    steps_per_dispatch: int = 1  # k: the program compiled loops over k steps' batches.

    def __str__(self) -> str:
        gib = lambda n: f"{n / 2**20:.1f} MiB" if n < 2**30 else f"{n / 2**30:.2f} GiB"  # noqa: E731
        shape = " x ".join(f"{axis} {size}" for axis, size in self.mesh.items())
        lines = [
            f"mesh: {shape}",
            f"memory per device: {gib(self.memory_bytes)} "
            f"(arguments {gib(self.argument_bytes)}, temporaries {gib(self.temp_bytes)})"
            + (
                f", for {self.steps_per_dispatch} steps per dispatch (their batches included)"
                if self.steps_per_dispatch > 1
                else ""
            ),
            f"parameters and optimizer state in all: {gib(self.state_bytes)}",
            f"device memory: {'unknown' if self.device_bytes is None else gib(self.device_bytes)}",
        ]
        if self.flops is not None:
            devices = 1
            for size in self.mesh.values():
                devices *= size
            lines.append(
                f"FLOPs per step: {self.flops:.4g} per device, {self.flops * devices:.4g} in all"
                + (
                    f" (one of the {self.microbatches} microbatches: the step does ~"
                    f"{self.microbatches}x)"
                    if self.microbatches > 1
                    else ""
                )
            )
        return "\n".join(lines)


def device_bytes(device: jax.Device) -> int | None:
    """The memory ``device`` holds: its allocator's limit on GPU and TPU; on the CPU, the host's
    RAM shared by its local devices."""
    stats = device.memory_stats() or {}
    if "bytes_limit" in stats:
        return int(stats["bytes_limit"])
    if device.platform == "cpu" and hasattr(os, "sysconf"):
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        return ram // max(jax.local_device_count(), 1)
    return None


def compile_step(config: ml_collections.ConfigDict) -> StepCost:
    """Compile ``config``'s train step for the mesh it asks for; allocate nothing.

    Raises:
      StepTooLargeError: the step needs more than a device holds (or the compiler ran out).
    """
    parallel.initialize()
    validate(config, num_devices=jax.device_count())
    mesh = make_mesh(config)
    layout = plan_experiment(config, mesh)
    try:
        compiled = layout.lower_train_program().compile()
    except Exception as error:  # XLA reports exhaustion as several exception types.
        if "RESOURCE_EXHAUSTED" in str(error) or "out of memory" in str(error).lower():
            raise StepTooLargeError(
                f"the train step does not fit on {mesh.devices.flat[0].platform} devices "
                f"({error}); lower it with {KNOBS}"
            ) from error
        raise
    stats = compiled.memory_analysis()
    analysis = compiled.cost_analysis()
    if isinstance(analysis, (list, tuple)):
        analysis = analysis[0] if analysis else None
    memory = (
        stats.argument_size_in_bytes
        + stats.output_size_in_bytes
        - stats.alias_size_in_bytes
        + stats.temp_size_in_bytes
    )
    return StepCost(
        mesh=dict(mesh.shape),
        memory_bytes=int(memory),
        argument_bytes=int(stats.argument_size_in_bytes),
        state_bytes=sum(
            x.size * x.dtype.itemsize for x in jax.tree.leaves(layout.abstract_state())
        ),
        temp_bytes=int(stats.temp_size_in_bytes),
        flops=float(analysis["flops"]) if analysis and "flops" in analysis else None,
        microbatches=config.get("microbatches", 1),
        steps_per_dispatch=config.get("steps_per_dispatch", 1),
        device_bytes=device_bytes(mesh.devices.flat[0]),
    )


def dry_run(config: ml_collections.ConfigDict) -> StepCost:
    """``compile_step``, and raise if the step needs more memory than a device holds.

    Raises:
      StepTooLargeError: naming the step's memory, the device's and the knobs that shrink it.
    """
    cost = compile_step(config)
    if cost.device_bytes is not None and cost.memory_bytes > cost.device_bytes:
        raise StepTooLargeError(
            f"the train step needs {cost.memory_bytes / 2**30:.2f} GiB per device but a device "
            f"holds {cost.device_bytes / 2**30:.2f} GiB (mesh {cost.mesh}, "
            f"config.microbatches={config.get('microbatches', 1)}, "
            f"config.fsdp={config.get('fsdp', False)}); lower it with {KNOBS}"
        )
    return cost
