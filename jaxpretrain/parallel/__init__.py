"""The only place in jaxpretrain that touches devices: meshes, shardings, multi-host start-up."""

from jaxpretrain.parallel.distributed import initialize, is_main_process
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
