"""The only place in jaxpretrain that touches devices: meshes, shardings, multi-host start-up."""

from jaxpretrain.parallel.distributed import (
    barrier,
    initialize,
    is_main_process,
    reached_preemption_sync_point,
)
from jaxpretrain.parallel.mesh import (
    DATA_AXIS,
    batch_sharding,
    make_mesh,
    must_wait_for_each_step,
    param_shardings,
    replicated,
    to_global_batch,
)

__all__ = [
    "barrier",
    "reached_preemption_sync_point",
    "DATA_AXIS",
    "batch_sharding",
    "initialize",
    "is_main_process",
    "make_mesh",
    "must_wait_for_each_step",
    "param_shardings",
    "replicated",
    "to_global_batch",
]
