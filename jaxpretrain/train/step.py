"""The one train-step builder (and the evaluation step) every method shares.

A method exports either ``loss_fn`` (one player) or ``loss_fns = {player: fn}`` (adversarial and
other multi-player objectives). For several players the parameters are ``{player: subtree}`` and
the players are updated in the order of ``loss_fns``, each on its own loss and optimizer, all inside
one jitted step; a later player sees the earlier players' *updated* parameters, which is the
alternating update of GAN training (Goodfellow et al. 2014, Algorithm 1 with k = 1).

Sparse updates: a method whose parameters are embedding tables read a few rows at a time (word
vectors) may also export ``sparse_rows(batch, *, model, config) -> {table: int ids}`` and
``rows_loss_fn(rows, batch, rng, *, model, config)``, its loss on the gathered rows. With plain
SGD (``optim.is_plain_sgd``) the step then differentiates with respect to the rows and scatter-adds
−lr·∂L/∂row into each table: the same update as the dense gradient (repeated ids add up, as the
gather's transpose does), at a cost independent of the table sizes (word2vec.c's update).

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

from jaxpretrain.models import gather_rows
from jaxpretrain.train.optim import frozen_subtrees, is_frozen, is_plain_sgd
from jaxpretrain.train.state import TrainState

LossFn = Callable[..., tuple[jax.Array, dict[str, jax.Array]]]


def players(method: ModuleType) -> Mapping[str, LossFn] | None:
    """The method's ``{player: loss_fn}``, or None for a single-player method."""
    return getattr(method, "loss_fns", None)


def _update(loss_fn, params, opt_state, tx, batch, rng):
    (loss, metrics), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, batch, rng)
    updates, opt_state = tx.update(grads, opt_state, params)
    metrics = {**metrics, "loss": loss, "grad_norm": optax.tree.norm(grads)}
    return optax.apply_updates(params, updates), opt_state, loss, metrics


def _sparse_update(method, model, config, params, batch, rng, lr):
    """θ[ids] −= lr·∂L/∂θ[ids] for each table the method's ``sparse_rows`` names."""
    ids = method.sparse_rows(batch, model=model, config=config)
    loss_fn = functools.partial(method.rows_loss_fn, model=model, config=config)
    rows = gather_rows(params, ids)
    (loss, metrics), grads = jax.value_and_grad(loss_fn, has_aux=True)(rows, batch, rng)
    params = dict(params)
    for name, index in ids.items():
        params[name] = params[name].at[index].add(-lr * grads[name])
    # The norm of the rows' gradients: a repeated row counts once per use, not summed.
    metrics = {**metrics, "loss": loss, "row_grad_norm": optax.tree.norm(grads), "lr": lr}
    return params, loss, metrics


def _without_frozen_gradients(loss_fn, frozen: set[str]):
    """``loss_fn`` with the ``frozen`` subtrees behind ``stop_gradient``: their gradient is zero
    either way (the optimizer zeroes their updates), but this way XLA never computes the
    backward pass through them, e.g. through the whole backbone of a linear probe."""
    if not frozen:
        return loss_fn

    def stop(path, value):
        keys = tuple(getattr(k, "key", k) for k in path)
        return jax.lax.stop_gradient(value) if is_frozen(keys, frozen) else value

    def wrapped(params, batch, rng):
        return loss_fn(jax.tree_util.tree_map_with_path(stop, params), batch, rng)

    return wrapped


def make_train_step(
    method: ModuleType,
    model: Any,
    config: Any,
    tx: optax.GradientTransformation | Mapping[str, optax.GradientTransformation],
    schedule: optax.Schedule | Mapping[str, optax.Schedule],
) -> Callable[[TrainState, dict[str, jax.Array]], tuple[TrainState, dict[str, jax.Array]]]:
    """``step(state, batch) -> (state, metrics)``: one optimizer update of every player.

    Metrics are scalars: the method's own, plus ``loss`` (the sum over players), ``grad_norm`` and
    ``lr`` (per player, prefixed ``<player>/``, for multi-player methods); a sparse update reports
    ``row_grad_norm`` instead of ``grad_norm``.
    """
    fns = players(method)
    optimizer = getattr(config, "optimizer", None)  # Tests may pass a bare config.
    sparse = optimizer is not None and hasattr(method, "sparse_rows") and is_plain_sgd(optimizer)
    frozen = set() if optimizer is None else frozen_subtrees(optimizer)

    def step(state: TrainState, batch: dict[str, jax.Array]):
        rng = jax.random.fold_in(state.rng, state.step)
        if sparse:
            lr = schedule(state.step)
            params, loss, metrics = _sparse_update(
                method, model, config, state.params, batch, rng, lr
            )
            opt_state = state.opt_state  # Plain SGD keeps no state to update.
            # The touched rows are finite if the old tables and these updates are: checking the
            # updates keeps the step's cost independent of the table sizes.
            finite = jnp.isfinite(loss) & jnp.isfinite(metrics["row_grad_norm"])
        elif fns is None:
            loss_fn = _without_frozen_gradients(
                functools.partial(method.loss_fn, model=model, config=config), frozen
            )
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
        if not sparse:
            # The loss is computed on the parameters before the update, so check the updated
            # parameters too: a checkpoint of this state must never hold a diverged model.
            finite = jnp.isfinite(loss) & jnp.isfinite(optax.tree.norm(params))
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
