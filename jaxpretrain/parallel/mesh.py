"""Device mesh and shardings: data parallelism, FSDP and tensor parallelism by config.

Every device of every host joins one 2-D mesh with axes (``data``, ``model``), ``model`` devices
per model replica (1 by default: pure data parallelism). The batch is split along ``data``.
Parameters whose axes the model names follow ``parallel.rules`` (tensor parallelism over
``model``, FSDP over ``data``); the others are replicated, or, with FSDP (ZeRO-3; Rajbhandari et
al. 2020), each large one is split along its largest dimension that ``data`` divides. XLA's SPMD
partitioner inserts the all-reduce of gradients (and the all-gathers of FSDP) inside the jitted
step, so ``jax.jit`` over this mesh is what ``pmap`` used to be.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from jaxpretrain.errors import ConfigError

DATA_AXIS = "data"
MODEL_AXIS = "model"


def make_mesh(devices: Sequence[jax.Device] | None = None, *, model: int = 1) -> Mesh:
    """A [len(devices) / model, model] mesh over ``devices`` (default: every device of every
    process), axes (``data``, ``model``). Devices are ordered by process, so a model replica stays
    on one host whenever ``model`` divides the devices per host."""
    devices = jax.devices() if devices is None else list(devices)
    if model <= 0 or len(devices) % model:
        raise ConfigError(f"mesh.model={model} does not divide the {len(devices)} devices")
    grid = np.asarray(devices).reshape(len(devices) // model, model)  # [data, model]
    return Mesh(grid, (DATA_AXIS, MODEL_AXIS))


def batch_sharding(mesh: Mesh, *, stacked: bool = False) -> NamedSharding:
    """Leading (batch) dimension split over the ``data`` axis, the rest replicated; with
    ``stacked``, the batches of several steps [k, B, ...], each split the same way."""
    return NamedSharding(mesh, P(None, DATA_AXIS) if stacked else P(DATA_AXIS))


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


def param_shardings(
    tree: Any, mesh: Mesh, *, fsdp: bool = False, specs: Any = None, min_size: int = 2**14
) -> Any:
    """Shardings for a tree of arrays: ``specs``'s PartitionSpec where it has one (a tree of the
    same structure, None for unnamed leaves; see ``rules.logical_specs``), else replicated, or
    FSDP's largest-dimension split over ``data``."""

    def sharding(x, spec):
        if spec is None:
            shape = tuple(np.shape(x))
            spec = _fsdp_spec(shape, mesh.shape[DATA_AXIS], min_size) if fsdp else P()
        return NamedSharding(mesh, spec)

    if specs is None:
        return jax.tree.map(lambda x: sharding(x, None), tree)
    return jax.tree.map(sharding, tree, specs, is_leaf=lambda x: x is None)


def _keys(path) -> tuple:
    return tuple(getattr(k, "key", getattr(k, "name", getattr(k, "idx", k))) for k in path)


def state_shardings(tree: Any, params: Any, params_shardings: Any, mesh: Mesh, *, fsdp: bool):
    """Shardings for optimizer state: a leaf whose tree path ends with a parameter's path and
    whose shape is that parameter's (Adam's moments, momentum) is sharded like the parameter;
    the others (step counts) follow ``param_shardings``."""
    by_path = {}
    for (path, param), sharding in zip(
        jax.tree_util.tree_flatten_with_path(params)[0], jax.tree.leaves(params_shardings)
    ):
        by_path[_keys(path)] = (tuple(np.shape(param)), sharding)

    def pick(path, x):
        keys, shape = _keys(path), tuple(np.shape(x))
        for start in range(len(keys)):
            found = by_path.get(keys[start:])
            if found is not None and found[0] == shape:
                return found[1]
        return param_shardings(x, mesh, fsdp=fsdp)

    return jax.tree_util.tree_map_with_path(pick, tree)


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


def to_global_batch(
    local_batch: Mapping[str, np.ndarray], mesh: Mesh, *, stacked: bool = False
) -> dict[str, jax.Array]:
    """Assemble each process's slice of the batch into global arrays sharded on ``data``.

    Every process passes its own ``[B / num_processes, ...]`` rows; the result is ``[B, ...]``.
    With ``stacked``, the batches of k steps: ``[k, B / num_processes, ...]`` -> ``[k, B, ...]``.
    """
    sharding = batch_sharding(mesh, stacked=stacked)
    return {
        key: jax.make_array_from_process_local_data(sharding, np.asarray(value))
        for key, value in local_batch.items()
    }
