"""The one train-step builder (and the evaluation step) every method shares.

A method exports either ``loss_fn`` (one player) or ``loss_fns = {player: fn}`` (adversarial and
other multi-player objectives). For several players the parameters are ``{player: subtree}`` and
the players are updated in the order of ``loss_fns``, each on its own loss and optimizer, all inside
one jitted step; a later player sees the earlier players' *updated* parameters, which is the
alternating update of GAN training (Goodfellow et al. 2014, Algorithm 1 with k = 1).

The randomness of step ``s`` is ``fold_in(state.rng, s)`` (player ``i`` folds in ``i`` once more),
so a resumed run draws exactly what an uninterrupted one would.
"""

from __future__ import annotations

import functools
from types import ModuleType
from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp
import optax

from jaxpretrain.train.state import TrainState

LossFn = Callable[..., tuple[jax.Array, dict[str, jax.Array]]]


def players(method: ModuleType) -> Mapping[str, LossFn] | None:
    """The method's ``{player: loss_fn}``, or None for a single-player method."""
    return getattr(method, "loss_fns", None)


def _update(loss_fn, params, opt_state, tx, batch, rng):
    (loss, metrics), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, batch, rng)
    updates, opt_state = tx.update(grads, opt_state, params)
    metrics = {**metrics, "loss": loss, "grad_norm": optax.global_norm(grads)}
    return optax.apply_updates(params, updates), opt_state, loss, metrics


def make_train_step(
    method: ModuleType,
    model: Any,
    config: Any,
    tx: optax.GradientTransformation | Mapping[str, optax.GradientTransformation],
    schedule: optax.Schedule | Mapping[str, optax.Schedule],
) -> Callable[[TrainState, dict[str, jax.Array]], tuple[TrainState, dict[str, jax.Array]]]:
    """``step(state, batch) -> (state, metrics)``: one optimizer update of every player.

    Metrics are scalars: the method's own, plus ``loss`` (the sum over players), ``grad_norm`` and
    ``lr`` (per player, prefixed ``<player>/``, for multi-player methods).
    """
    fns = players(method)

    def step(state: TrainState, batch: dict[str, jax.Array]):
        rng = jax.random.fold_in(state.rng, state.step)
        if fns is None:
            loss_fn = functools.partial(method.loss_fn, model=model, config=config)
            params, opt_state, loss, metrics = _update(
                loss_fn, state.params, state.opt_state, tx, batch, rng
            )
            metrics["lr"] = schedule(state.step)
        else:
            params, opt_state = dict(state.params), dict(state.opt_state)
            loss, metrics = jnp.zeros((), jnp.float32), {}
            for index, (player, fn) in enumerate(fns.items()):

                def player_loss(own, batch, rng, player=player, fn=fn):
                    return fn({**params, player: own}, batch, rng, model=model, config=config)

                params[player], opt_state[player], player_loss_value, player_metrics = _update(
                    player_loss,
                    params[player],
                    opt_state[player],
                    tx[player],
                    batch,
                    jax.random.fold_in(rng, index),
                )
                loss = loss + player_loss_value
                metrics.update({f"{player}/{k}": v for k, v in player_metrics.items()})
                metrics[f"{player}/lr"] = schedule[player](state.step)
            metrics["loss"] = loss
        # The loss is computed on the parameters before the update, so check the updated
        # parameters too: a checkpoint of this state must never hold a diverged model.
        finite = jnp.isfinite(loss) & jnp.isfinite(optax.global_norm(params))
        new_state = state.replace(
            step=state.step + 1,
            params=params,
            opt_state=opt_state,
            nonfinite=state.nonfinite + (~finite).astype(jnp.int32),
        )
        return new_state, metrics

    return step


def make_eval_step(method: ModuleType, model: Any, config: Any):
    """``eval_step(params, batch) -> metrics`` on a padded batch (``batch["mask"]`` marks real rows).

    Uses the method's ``eval_metrics`` if it has one, else the metrics of its (first) loss with a
    fixed key. Each metric must be a mean over the real rows, so that the loop's average weighted
    by the rows of each batch is exact.
    """
    custom = getattr(method, "eval_metrics", None)
    fns = players(method)
    loss_fn = method.loss_fn if fns is None else next(iter(fns.values()))

    def eval_step(params, batch):
        if custom is not None:
            return custom(params, batch, model=model, config=config)
        loss, metrics = loss_fn(params, batch, jax.random.PRNGKey(0), model=model, config=config)
        return {**metrics, "loss": loss}

    return eval_step
