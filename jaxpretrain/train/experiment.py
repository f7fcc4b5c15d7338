"""Everything one run needs, built from its config: model, sharded state, jitted steps, data.

Shared by the training loop and the benchmark so that what we time is what we train.
"""

from __future__ import annotations

import dataclasses
import functools
from types import ModuleType
from typing import Any, Callable, Iterator

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from jax.sharding import Mesh

from jaxpretrain import parallel
from jaxpretrain.data import BatchStream, Dataset, eval_batches, load_dataset
from jaxpretrain.methods import get_method
from jaxpretrain.train import pretrained
from jaxpretrain.train.optim import make_optimizer
from jaxpretrain.train.state import TrainState
from jaxpretrain.train.step import make_eval_step, make_train_step, players


@dataclasses.dataclass
class Experiment:
    """A built run. ``train_step`` is the jitted step (it donates its state argument); call
    :meth:`step` to run it. ``train_steps`` runs up to ``config.steps_per_dispatch`` = k steps in
    one jitted call (a ``lax.fori_loop`` over k batches stacked [k, B, ...]; None for k = 1);
    call :meth:`steps`."""

    config: ml_collections.ConfigDict
    method: ModuleType
    model: Any
    mesh: Mesh
    state: TrainState
    train_step: Callable[[TrainState, dict], tuple[TrainState, dict]]
    # (params, batch) -> (metrics, mask bool [B] of the real rows, the method's eval_outputs or {}).
    eval_step: Callable[[Any, dict], tuple[dict, jax.Array, dict]]
    dataset: Dataset  # Its train split feeds `stream`; eval_batches read its eval split.
    stream: BatchStream
    eval_transform: Callable | None
    pictures_step: Callable[[Any, dict], dict] | None = None
    train_steps: Callable[[TrainState, dict], tuple[TrainState, dict]] | None = None

    def pictures(self, params, *, count: int = 8) -> dict[str, np.ndarray]:
        """The method's pictures of the first ``count`` eval examples: {name: float [R, N, H, W,
        C] in [0, 1]} (rows R of N images, e.g. input / prediction / truth); {} if it has none."""
        if self.pictures_step is None:
            return {}
        out = jax.device_get(self.pictures_step(params, next(self.eval_batches())))
        return {name: np.asarray(rows)[:, :count] for name, rows in out.items()}

    def step(self, state: TrainState, batch: dict) -> tuple[TrainState, dict]:
        """One training step (waiting for it where the platform needs that, see ``parallel``)."""
        state, metrics = self.train_step(state, batch)
        if parallel.must_wait_for_each_step(self.mesh):
            jax.block_until_ready(metrics)
        return state, metrics

    def steps(self, state: TrainState, batches: dict, count: int) -> tuple[TrainState, dict]:
        """``count`` ≤ ``config.steps_per_dispatch`` steps in one call of ``train_steps`` on the
        stacked ``batches`` (``global_batches``); the metrics are those of the last step."""
        state, metrics = self.train_steps(state, batches, np.int32(count))
        if parallel.must_wait_for_each_step(self.mesh):
            jax.block_until_ready(metrics)
        return state, metrics

    def global_batch(self, step: int) -> dict[str, jax.Array]:
        """The global batch of ``step`` (this process reads only its own rows)."""
        return parallel.to_global_batch(self.stream.local_batch(step), self.mesh)

    def global_batches(self, step: int, count: int) -> dict[str, jax.Array]:
        """The global batches of steps ``step .. step + count - 1`` stacked [k, B, ...],
        k = ``config.steps_per_dispatch`` ≥ count (rows from count on are zeros, unread)."""
        local = [self.stream.local_batch(s) for s in range(step, step + count)]
        spare = self.config.steps_per_dispatch - count
        stacked = {
            key: np.concatenate(
                [np.stack([b[key] for b in local]), np.zeros((spare, *v.shape), v.dtype)]
            )
            for key, v in local[0].items()
        }
        return parallel.to_global_batch(stacked, self.mesh, stacked=True)

    def eval_batches(self) -> Iterator[dict[str, jax.Array]]:
        for local in eval_batches(
            self.dataset.eval,
            global_batch_size=self.config.batch_size,
            transform=self.eval_transform,
            process_index=jax.process_index(),
            process_count=jax.process_count(),
        ):
            yield parallel.to_global_batch(local, self.mesh)

    def evaluate(self, params) -> dict[str, float]:
        """Metrics averaged over the whole eval split (padding rows excluded), and the method's
        scores of the whole split (``split_metrics``) if it has any."""
        totals: dict[str, float] = {}
        count = 0.0
        outputs: list[dict[str, np.ndarray]] = []
        for batch in self.eval_batches():
            metrics, real, out = jax.device_get(self.eval_step(params, batch))
            rows = float(np.sum(real))
            count += rows
            for key, value in metrics.items():
                totals[key] = totals.get(key, 0.0) + float(value) * rows
            if out:
                outputs.append({k: np.asarray(v)[np.asarray(real)] for k, v in out.items()})
        means = {key: value / max(count, 1.0) for key, value in totals.items()}
        if not outputs:
            return means
        gathered = {k: np.concatenate([o[k] for o in outputs]) for k in outputs[0]}
        return {**means, **self.method.split_metrics(gathered, config=self.config)}


def _optimizers(config, method, params):
    def build(opt, own_params):
        return make_optimizer(
            opt, batch_size=config.batch_size, total_steps=config.total_steps, params=own_params
        )

    fns = players(method)
    if fns is None:
        return build(config.optimizer, params)
    per_player = config.get("optimizers", {})
    built = {p: build(per_player.get(p, config.optimizer), params[p]) for p in fns}
    return {p: tx for p, (tx, _) in built.items()}, {p: s for p, (_, s) in built.items()}


def _opt_shardings(tx, params, param_sh, mesh: Mesh, fsdp: bool):
    """Shardings of the optimizer state (per player for a dict of optimizers): a parameter's
    moments are sharded like the parameter."""
    if isinstance(tx, dict):
        return {p: _opt_shardings(t, params[p], param_sh[p], mesh, fsdp) for p, t in tx.items()}
    abstract = jax.eval_shape(tx.init, params)
    return parallel.state_shardings(abstract, params, param_sh, mesh, fsdp=fsdp)


def _inherited_params(abstract_params, config):
    """The params tree with ``config.init_subtree`` read from ``config.init_from`` (host arrays)
    and every other leaf still abstract: checked against the model's shapes before anything is
    compiled, so a checkpoint that does not fit fails fast."""
    return pretrained.init_params(
        abstract_params,
        config.init_from,
        method=config.method,
        subtree=config.init_subtree,
        backbone=config.get("model", {}).get("backbone"),
    )


def _fill(params, inherited, shardings):
    """``params`` with the leaves ``inherited`` holds as arrays (the rest stay as initialised)."""
    merged = jax.tree.map(
        lambda fresh, got: fresh if isinstance(got, jax.ShapeDtypeStruct) else got,
        params,
        inherited,
    )
    return jax.device_put(merged, shardings)


def make_mesh(config: ml_collections.ConfigDict) -> Mesh:
    """The (data, model) mesh of every device that ``config.mesh`` asks for."""
    return parallel.make_mesh(model=config.get("mesh", {}).get("model", 1))


@dataclasses.dataclass
class Layout:
    """What a run compiles, before any array exists: the model, its abstract parameters, their
    shardings and the jitted train step. ``build_experiment`` fills it with arrays; the dry run
    (``train.aot``) compiles its step from abstract arguments alone (``lower_train_program``)."""

    config: ml_collections.ConfigDict
    method: ModuleType
    model: Any
    dataset: Dataset
    stream: BatchStream
    init_params: Callable[[jax.Array], Any]  # rng -> params (plain arrays)
    init_rng: jax.Array
    step_rng: jax.Array
    params: Any  # jax.ShapeDtypeStruct leaves
    tx: Any
    state_shardings: TrainState
    batch_sharding: jax.sharding.NamedSharding
    train_step: Callable[[TrainState, dict], tuple[TrainState, dict]]
    train_steps: Callable[[TrainState, dict], tuple[TrainState, dict]] | None = None

    def abstract_state(self) -> TrainState:
        """The train state as ``jax.ShapeDtypeStruct``s carrying their shardings."""
        sh = self.state_shardings
        scalar = lambda dtype: jax.ShapeDtypeStruct((), dtype, sharding=sh.step)  # noqa: E731
        with_sharding = lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s)  # noqa: E731
        return TrainState(
            step=scalar(jnp.int32),
            params=jax.tree.map(with_sharding, self.params, sh.params),
            opt_state=jax.tree.map(
                with_sharding,
                jax.eval_shape(functools.partial(_init_all, self.tx), self.params),
                sh.opt_state,
            ),
            rng=jax.ShapeDtypeStruct(self.step_rng.shape, self.step_rng.dtype, sharding=sh.rng),
            nonfinite=scalar(jnp.int32),
        )

    def abstract_batch(self, stacked: int = 0) -> dict[str, jax.ShapeDtypeStruct]:
        """The global batch's shapes [B, ...] (from one example: no batch is read); with
        ``stacked`` = k, those of ``train_steps``'s k batches [k, B, ...]."""
        leading, sharding = (self.stream.global_batch_size,), self.batch_sharding
        if stacked:
            leading = (stacked, *leading)
            sharding = parallel.batch_sharding(sharding.mesh, stacked=True)
        return {
            key: jax.ShapeDtypeStruct((*leading, *value.shape[1:]), value.dtype, sharding=sharding)
            for key, value in self.stream.first_example().items()
        }

    def lower_train_program(self):
        """The lowered program a run executes per dispatch: ``train_steps`` on k stacked batches
        if ``config.steps_per_dispatch`` = k > 1, else ``train_step``; from abstract arguments."""
        if self.train_steps is None:
            return self.train_step.lower(self.abstract_state(), self.abstract_batch())
        k = self.config.steps_per_dispatch
        count = jax.ShapeDtypeStruct((), jnp.int32, sharding=self.state_shardings.step)
        return self.train_steps.lower(self.abstract_state(), self.abstract_batch(k), count)


def _multi_step(step_fn):
    """Up to k steps in one call: ``steps(state, batches [k, B, ...], count)`` runs
    ``step_fn`` on ``batches[0 .. count - 1]`` in a ``lax.fori_loop`` (``count`` is traced, so one
    compiled program serves every count ≤ k, and rows ≥ count are ignored). Step s still draws
    from ``fold_in(rng, s)`` (its state's step), so the parameters are those of ``count`` calls
    of ``step_fn``; the metrics are the last step's."""

    def steps(state, batches, count):
        first = jax.tree.map(lambda x: x[0], batches)
        metrics_shape = jax.eval_shape(step_fn, state, first)[1]
        zeros = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), metrics_shape)

        def body(index, carry):
            batch = jax.tree.map(
                lambda x: jax.lax.dynamic_index_in_dim(x, index, 0, False), batches
            )
            return step_fn(carry[0], batch)

        return jax.lax.fori_loop(0, count, body, (state, zeros))

    return steps


def _init_all(tx, params):
    """The optimizer state: ``tx.init(params)``, or ``{player: ...}`` for a dict of optimizers."""
    return (
        {p: t.init(params[p]) for p, t in tx.items()} if isinstance(tx, dict) else tx.init(params)
    )


def plan_experiment(config: ml_collections.ConfigDict, mesh: Mesh) -> Layout:
    """The :class:`Layout` of ``config`` on ``mesh``; allocates no parameters."""
    method = get_method(config.method)
    dataset = load_dataset(config.data)  # Built once; the method reads its data from it.
    model = method.make_model(config, dataset)
    process = dict(process_index=jax.process_index(), process_count=jax.process_count())
    stream = BatchStream(
        dataset.train,
        global_batch_size=config.batch_size,
        seed=config.seed,
        transform=method.preprocess(config, train=True, dataset=dataset),
        workers=config.data.get("workers", 0),
        **process,
    )
    example = stream.first_example()
    init_rng, step_rng = jax.random.split(jax.random.PRNGKey(config.seed))

    def init_params(rng):
        return method.init_params(rng, example, model=model, config=config)

    fsdp = config.get("fsdp", False)
    replicated = parallel.replicated(mesh)
    abstract_params = jax.eval_shape(init_params, init_rng)
    specs = parallel.logical_specs(init_params, init_rng, mesh=mesh, fsdp=fsdp)
    param_sh = parallel.param_shardings(abstract_params, mesh, fsdp=fsdp, specs=specs)
    tx, schedule = _optimizers(config, method, abstract_params)
    opt_sh = _opt_shardings(tx, abstract_params, param_sh, mesh, fsdp)
    state_sh = TrainState(
        step=replicated, params=param_sh, opt_state=opt_sh, rng=replicated, nonfinite=replicated
    )
    batch_sh = parallel.batch_sharding(mesh)
    step_fn = make_train_step(method, model, config, tx, schedule)
    train_step = jax.jit(
        step_fn,
        in_shardings=(state_sh, batch_sh),
        out_shardings=(state_sh, replicated),
        donate_argnums=0,
    )
    train_steps = None
    if config.get("steps_per_dispatch", 1) > 1:
        train_steps = jax.jit(
            _multi_step(step_fn),
            in_shardings=(state_sh, parallel.batch_sharding(mesh, stacked=True), replicated),
            out_shardings=(state_sh, replicated),
            donate_argnums=0,
        )
    return Layout(
        config=config,
        method=method,
        model=model,
        dataset=dataset,
        stream=stream,
        init_params=init_params,
        init_rng=init_rng,
        step_rng=step_rng,
        params=abstract_params,
        tx=tx,
        state_shardings=state_sh,
        batch_sharding=batch_sh,
        train_step=train_step,
        train_steps=train_steps,
    )


def build_experiment(
    config: ml_collections.ConfigDict, mesh: Mesh, *, init_from: str | None = None
) -> Experiment:
    """Build a run; ``init_from`` (a pretraining workdir) fills ``config.init_subtree``."""
    layout = plan_experiment(config, mesh)
    method, model, state_sh = layout.method, layout.model, layout.state_shardings
    param_sh, batch_sh, replicated = state_sh.params, layout.batch_sharding, state_sh.step
    inherited = _inherited_params(layout.params, config) if init_from else None
    params = jax.jit(layout.init_params, out_shardings=param_sh)(layout.init_rng)
    if inherited is not None:
        params = _fill(params, inherited, param_sh)
    init_opt = functools.partial(_init_all, layout.tx)  # Per player for a dict of optimizers.
    opt_state = jax.jit(init_opt, out_shardings=state_sh.opt_state)(params)
    scalar = lambda x: jax.device_put(x, replicated)  # noqa: E731
    state = TrainState(
        step=scalar(jnp.zeros((), jnp.int32)),
        params=params,
        opt_state=opt_state,
        rng=scalar(layout.step_rng),
        nonfinite=scalar(jnp.zeros((), jnp.int32)),
    )
    eval_metrics = make_eval_step(method, model, config)
    eval_outputs = getattr(method, "eval_outputs", None)

    def eval_step(params, batch):
        # One compiled call: the metrics' and the outputs' forward passes are the same
        # computation, which XLA computes once. Replicated output: every host gathers the split.
        outputs = (
            {} if eval_outputs is None else eval_outputs(params, batch, model=model, config=config)
        )
        return eval_metrics(params, batch), batch["mask"], outputs

    pictures_step = None
    if hasattr(method, "pictures"):  # Replicated output: every host can read it.
        pictures_step = jax.jit(
            functools.partial(method.pictures, model=model, config=config),
            in_shardings=(param_sh, batch_sh),
            out_shardings=replicated,
        )

    return Experiment(
        config=config,
        method=method,
        model=model,
        mesh=mesh,
        state=state,
        train_step=layout.train_step,
        eval_step=jax.jit(eval_step, in_shardings=(param_sh, batch_sh), out_shardings=replicated),
        dataset=layout.dataset,
        stream=layout.stream,
        eval_transform=method.preprocess(config, train=False, dataset=layout.dataset),
        pictures_step=pictures_step,
        train_steps=layout.train_steps,
    )
