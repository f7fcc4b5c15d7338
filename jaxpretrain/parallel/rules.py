"""Logical axis rules: the one place that maps the axis names models give their parameters to the
mesh axes (``data``, ``model``).

Models name axes only (``nn.with_logical_partitioning``): ``embed`` (the residual width D),
``heads`` (H), ``kv`` (the per-head width K), ``mlp`` (the MLP's hidden width) and ``vocab`` (V).
The rules, in order of priority (each mesh axis splits at most one dimension of an array):

    heads -> model   attention is split by heads (Megatron-LM; Shoeybi et al. 2019)
    mlp   -> model   W_1 [D, F] column-parallel, W_2 [F, D] row-parallel: one all-reduce per MLP
    vocab -> model   the embedding [V, D] and the output layer split by vocabulary rows
    embed -> data    only with FSDP (ZeRO-3; Rajbhandari et al. 2020), else replicated

XLA's SPMD partitioner then inserts the collectives. A dimension that its mesh axes do not divide
stays whole (e.g. 2 heads on ``model`` = 4), as does the ``data`` split of an array smaller than
``min_size`` (FSDP's gathers of tiny arrays cost more than they save). Parameters without names
(convolutional and recurrent models) keep ``mesh.param_shardings``'s rule.
"""

from __future__ import annotations

from typing import Any, Callable

import flax.linen as nn
import jax
import numpy as np
from jax.sharding import Mesh
from jax.sharding import PartitionSpec as P

from jaxpretrain.parallel.mesh import DATA_AXIS, MODEL_AXIS


def logical_axis_rules(*, fsdp: bool) -> tuple[tuple[str, str | None], ...]:
    """The ``(logical name, mesh axis)`` rules of the module docstring, in priority order."""
    return (
        ("heads", MODEL_AXIS),
        ("mlp", MODEL_AXIS),
        ("vocab", MODEL_AXIS),
        ("embed", DATA_AXIS if fsdp else None),
        ("kv", None),
    )


def _fit(spec: P, shape: tuple[int, ...], mesh: Mesh, min_size: int) -> P:
    """``spec`` without the mesh axes that do not divide their dimension, and without ``data``
    for arrays smaller than ``min_size``."""
    small = int(np.prod(shape, dtype=np.int64)) < min_size
    fitted = []
    for dim, axes in zip(shape, tuple(spec) + (None,) * (len(shape) - len(spec))):
        names = () if axes is None else (axes,) if isinstance(axes, str) else tuple(axes)
        names = tuple(a for a in names if not (small and a == DATA_AXIS))
        size = int(np.prod([mesh.shape[a] for a in names], dtype=np.int64))
        fitted.append(names if names and dim % size == 0 else None)
    return P(*[a[0] if a and len(a) == 1 else a for a in fitted])


def logical_specs(
    init_fn: Callable[..., Any], *args: Any, mesh: Mesh, fsdp: bool, min_size: int = 2**14
) -> Any:
    """The mesh ``PartitionSpec`` of each output leaf of ``init_fn(*args)`` whose axes are named,
    else None.

    ``init_fn`` returns plain arrays (methods ``nn.unbox`` their parameters); unboxing under a
    mesh and these rules constrains each named parameter's sharding, which we read from the
    traced program, so the names travel without changing what methods return.
    """
    with jax.set_mesh(mesh), nn.logical_axis_rules(logical_axis_rules(fsdp=fsdp)):
        closed, shapes = jax.make_jaxpr(init_fn, return_shape=True)(*args)
    specs = []
    for var in closed.jaxpr.outvars:
        spec = _constraint(closed.jaxpr, var)
        specs.append(None if spec is None else _fit(spec, tuple(var.aval.shape), mesh, min_size))
    return jax.tree.unflatten(jax.tree.structure(shapes), specs)


def _constraint(jaxpr, var) -> P | None:
    """The PartitionSpec of the sharding constraint that produced ``var``, looking into nested
    jitted calls (an init compiled with ``jax.jit``, BERT's); None if there is none."""
    for eqn in jaxpr.eqns:
        if var not in eqn.outvars:
            continue
        if eqn.primitive.name == "sharding_constraint":
            return eqn.params["sharding"].spec
        inner = eqn.params.get("jaxpr")
        if eqn.primitive.name in ("pjit", "jit") and inner is not None:
            return _constraint(inner.jaxpr, inner.jaxpr.outvars[eqn.outvars.index(var)])
        return None
    return None
