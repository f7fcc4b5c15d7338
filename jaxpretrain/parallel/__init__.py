"""The only place in jaxpretrain that touches devices: meshes, shardings, multi-host start-up."""

from jaxpretrain.parallel.distributed import (
    barrier,
    initialize,
    is_main_process,
    reached_preemption_sync_point,
)
from jaxpretrain.parallel.mesh import (
    DATA_AXIS,
    MODEL_AXIS,
    batch_sharding,
    make_mesh,
    must_wait_for_each_step,
    param_shardings,
    replicated,
    state_shardings,
    to_global_batch,
)
from jaxpretrain.parallel.rules import logical_axis_rules, logical_specs

__all__ = [
    "barrier",
    "reached_preemption_sync_point",
    "DATA_AXIS",
    "MODEL_AXIS",
    "batch_sharding",
    "initialize",
    "is_main_process",
    "logical_axis_rules",
    "logical_specs",
    "make_mesh",
    "must_wait_for_each_step",
    "param_shardings",
    "replicated",
    "state_shardings",
    "to_global_batch",
]
