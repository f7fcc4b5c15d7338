"""Device mesh and shardings for synchronous data parallelism (and FSDP by config).

Every device of every host joins one 1-D mesh whose axis is called ``data``. The batch is split
along it; parameters are replicated, or, with FSDP (ZeRO-3; Rajbhandari et al. 2020), each large
parameter is split along its largest dimension that the mesh divides. XLA's SPMD partitioner
inserts the all-reduce of gradients (and the all-gathers of FSDP) inside the jitted step, so
``jax.jit`` over this mesh is what ``pmap`` used to be.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

DATA_AXIS = "data"


def make_mesh(devices: Sequence[jax.Device] | None = None) -> Mesh:
    """A 1-D mesh over ``devices`` (default: every device of every process)."""
    devices = jax.devices() if devices is None else list(devices)
    return Mesh(np.asarray(devices), (DATA_AXIS,))


def batch_sharding(mesh: Mesh) -> NamedSharding:
    """Leading (batch) dimension split over the ``data`` axis, the rest replicated."""
    return NamedSharding(mesh, P(DATA_AXIS))


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, P())


def _fsdp_spec(shape: tuple[int, ...], num_shards: int, min_size: int) -> P:
    """Shard the largest dimension divisible by ``num_shards``; small arrays stay replicated."""
    if num_shards == 1 or int(np.prod(shape, dtype=np.int64)) < min_size:
        return P()
    for dim in sorted(range(len(shape)), key=lambda d: -shape[d]):
        if shape[dim] % num_shards == 0:
            spec = [None] * len(shape)
            spec[dim] = DATA_AXIS
            return P(*spec)
    return P()


def param_shardings(tree: Any, mesh: Mesh, *, fsdp: bool = False, min_size: int = 2**14) -> Any:
    """Shardings for a tree of arrays (parameters, optimizer state): replicated, or FSDP."""
    if not fsdp:
        return jax.tree.map(lambda _: replicated(mesh), tree)
    num_shards = mesh.shape[DATA_AXIS]
    return jax.tree.map(
        lambda x: NamedSharding(mesh, _fsdp_spec(tuple(np.shape(x)), num_shards, min_size)), tree
    )


def must_wait_for_each_step(mesh: Mesh) -> bool:
    """Whether the host must finish each step before dispatching the next one.

    XLA:CPU runs every local device on its own thread and meets them in a rendezvous for each
    collective. With several steps queued by asynchronous dispatch those threads can deadlock
    (jax 0.10.2, 8 host-platform devices: "Termination timeout for all reduce ... only 7 of them
    arrived"). Waiting costs nothing on CPU, whose steps do not overlap anyway; accelerators and
    one-device meshes keep asynchronous dispatch.
    """
    local = [d for d in mesh.devices.flat if d.process_index == jax.process_index()]
    return local[0].platform == "cpu" and len(local) > 1


def to_global_batch(local_batch: Mapping[str, np.ndarray], mesh: Mesh) -> dict[str, jax.Array]:
    """Assemble each process's slice of the batch into global arrays sharded on ``data``.

    Every process passes its own ``[B / num_processes, ...]`` rows; the result is ``[B, ...]``.
    """
    sharding = batch_sharding(mesh)
    return {
        key: jax.make_array_from_process_local_data(sharding, np.asarray(value))
        for key, value in local_batch.items()
    }
