"""Multi-host start-up: ``jax.distributed.initialize()`` when the environment asks for it.

The same command runs on every host. A pod or cluster says it is multi-host through the
environment: ``JAX_COORDINATOR_ADDRESS`` (+ ``JAX_NUM_PROCESSES``, ``JAX_PROCESS_ID``) set by the
user or launcher, or the cluster variables JAX detects by itself (Cloud TPU, SLURM, Open MPI),
which we pass through when ``JAXPRETRAIN_DISTRIBUTED=1``.
"""

from __future__ import annotations

import os

import jax
from jax.experimental import multihost_utils

_initialized = False


def _requested() -> bool:
    return bool(os.environ.get("JAX_COORDINATOR_ADDRESS")) or os.environ.get(
        "JAXPRETRAIN_DISTRIBUTED", ""
    ) in ("1", "true")


def initialize() -> None:
    """Join the multi-host job if the environment describes one; otherwise do nothing.

    Must run before any other JAX call that touches devices. Idempotent.
    """
    global _initialized
    if _initialized or not _requested():
        return
    kwargs = {}
    if os.environ.get("JAX_COORDINATOR_ADDRESS"):
        for key, env, cast in (
            ("coordinator_address", "JAX_COORDINATOR_ADDRESS", str),
            ("num_processes", "JAX_NUM_PROCESSES", int),
            ("process_id", "JAX_PROCESS_ID", int),
        ):
            if os.environ.get(env):
                kwargs[key] = cast(os.environ[env])
    # CPU hosts need a collectives backend for cross-process all-reduce; GPU/TPU ignore this.
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(**kwargs)
    _initialized = True


def is_main_process() -> bool:
    """True on the one process that writes logs, metrics and pictures."""
    return jax.process_index() == 0


def barrier(name: str) -> None:
    """Wait until every process has reached this point (nothing to wait for on one process)."""
    if jax.process_count() > 1:
        multihost_utils.sync_global_devices(name)


def reached_preemption_sync_point(step: int) -> bool:
    """Whether a multi-host job must stop after ``step``: True on every host at the same step once
    any host has been sent SIGTERM (JAX's preemption service, started by
    ``jax.distributed.initialize``). Always False on one process, where the loop's own signal
    handler decides."""
    if jax.process_count() == 1:
        return False
    return multihost_utils.reached_preemption_sync_point(step)
