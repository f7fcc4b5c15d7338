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
so a resumed run draws exactly what an uninterrupted one would. A method may also export
``draw_batch(batch, rng, *, model, config) -> batch``: random preprocessing done on the device
inside the step (word2vec's subsampling and negatives), from a key split off the step's; the
losses then see its output, and evaluation calls it with a fixed key.

Gradient accumulation: with ``config.microbatches = k`` each player's gradient is the mean of the
gradients of k slices of the batch, computed one after the other by a ``lax.scan`` inside the
step, and then applied as one update:

    g = (1/k) Σ_i ∇L(θ; slice_i),   slice_i = rows {i, i + k, i + 2k, ...} of the [B, ...] batch

so the activations of only B/k rows are alive at once. Slice i takes every k-th row, so that on a
batch split in contiguous blocks over the ``data`` axis every device holds B/(k·data) rows of every
slice. Slice i draws its randomness from ``fold_in(rng, i)``: deterministic, but dropout masks
differ from those of the one-slice step. g equals the one-slice gradient exactly when the loss is a
mean of per-row terms over the (full, unpadded) training batch; a loss with statistics across rows
(batch norm, in-batch negatives as in InfoNCE, a batch entropy) is computed on batches of B/k, as
with gradient accumulation anywhere. Word vectors (``sparse_rows``, a summed loss) do not microbatch.
"""

from __future__ import annotations

import functools
from types import ModuleType
from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp
import optax

from jaxpretrain.errors import ConfigError
from jaxpretrain.models import gather_rows
from jaxpretrain.train.optim import frozen_subtrees, is_frozen, is_plain_sgd
from jaxpretrain.train.state import TrainState

LossFn = Callable[..., tuple[jax.Array, dict[str, jax.Array]]]


def players(method: ModuleType) -> Mapping[str, LossFn] | None:
    """The method's ``{player: loss_fn}``, or None for a single-player method."""
    return getattr(method, "loss_fns", None)


def _slices(batch: dict[str, jax.Array], k: int) -> dict[str, jax.Array]:
    """[B, ...] -> [k, B/k, ...]; slice i holds rows i, i + k, i + 2k, ... (module docstring)."""

    def split(x):
        rows = x.reshape(x.shape[0] // k, k, *x.shape[1:])  # [B/k, k, ...]
        return jnp.swapaxes(rows, 0, 1)  # [k, B/k, ...]

    return {key: split(value) for key, value in batch.items()}


def _value_and_grad(loss_fn: LossFn, microbatches: int):
    """``jax.value_and_grad(loss_fn, has_aux=True)``, averaged over ``microbatches`` slices of
    the batch by a ``lax.scan`` (loss, metrics and gradients alike)."""
    grad_fn = jax.value_and_grad(loss_fn, has_aux=True)
    if microbatches == 1:
        return grad_fn

    def accumulated(params, batch, rng):
        slices = _slices(batch, microbatches)
        first = jax.tree.map(lambda x: x[0], slices)
        zeros = jax.tree.map(
            lambda s: jnp.zeros(s.shape, s.dtype), jax.eval_shape(grad_fn, params, first, rng)
        )

        def add(total, index_and_slice):
            index, part = index_and_slice
            out = grad_fn(params, part, jax.random.fold_in(rng, index))
            total = jax.tree.map(lambda t, x: t + (x / microbatches).astype(t.dtype), total, out)
            return total, None

        total, _ = jax.lax.scan(add, zeros, (jnp.arange(microbatches), slices))
        return total

    return accumulated


def _update(loss_fn, params, opt_state, tx, batch, rng, microbatches=1):
    (loss, metrics), grads = _value_and_grad(loss_fn, microbatches)(params, batch, rng)
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
    microbatches = getattr(config, "microbatches", 1)
    if microbatches > 1 and hasattr(method, "sparse_rows"):
        raise ConfigError(
            f"config.microbatches={microbatches} does not apply to {method.__name__}: its loss is "
            "summed over the batch and its sparse row update costs memory independent of the "
            "table sizes; set config.microbatches=1 and shrink config.batch_size instead."
        )

    draw = getattr(method, "draw_batch", None)

    def step(state: TrainState, batch: dict[str, jax.Array]):
        rng = jax.random.fold_in(state.rng, state.step)
        if draw is not None:
            rng, draw_rng = jax.random.split(rng)
            batch = draw(batch, draw_rng, model=model, config=config)
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
                loss_fn, state.params, state.opt_state, tx, batch, rng, microbatches
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
                    microbatches,
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
    draw = getattr(method, "draw_batch", None)
    fns = players(method)
    loss_fn = method.loss_fn if fns is None else next(iter(fns.values()))

    def eval_step(params, batch):
        if draw is not None:  # A fixed draw: every evaluation sees the same batches.
            batch = draw(batch, jax.random.PRNGKey(0), model=model, config=config)
        if custom is not None:
            return custom(params, batch, model=model, config=config)
        loss, metrics = loss_fn(params, batch, jax.random.PRNGKey(0), model=model, config=config)
        return {**metrics, "loss": loss}

    return eval_step
