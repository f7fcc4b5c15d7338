"""The training state: everything a step reads and writes, as one pytree."""

from __future__ import annotations

from typing import Any

import flax
import jax


@flax.struct.dataclass
class TrainState:
    """Parameters, optimizer state and counters of a run.

    For multi-player methods ``params`` and ``opt_state`` are ``{player: subtree}``.

    Attributes:
      step: int32 [], optimizer steps taken.
      params: parameter pytree.
      opt_state: optax state pytree.
      rng: uint32 [2], the run's base key; step ``s`` draws from ``fold_in(rng, s)``.
      nonfinite: int32 [], steps so far whose loss or updated parameters were NaN or inf (checked
        on the host at log and checkpoint steps, so a diverged state is never saved).
    """

    step: jax.Array
    params: Any
    opt_state: Any
    rng: jax.Array
    nonfinite: jax.Array
