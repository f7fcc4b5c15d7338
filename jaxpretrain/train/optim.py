"""Optimizers and learning-rate schedules, built from a config's ``optimizer`` block.

- Linear scaling rule (Goyal et al. 2017, "Accurate, Large Minibatch SGD"): lr = base_lr * B / 256
  for a global batch B, with a linear warm-up from 0 over ``warmup_steps``; then cosine
  (Loshchilov & Hutter 2017) or linear decay, or the inverse square root of Vaswani et al. 2017
  (Eq. 3): with warm-up W, lr = peak · min(s / W, √(W / s)), peak = d_model^-½ · W^-½ there.
- SGD with heavy-ball or Nesterov momentum, or AdamW (Loshchilov & Hutter 2019).
- Weight decay only on kernels: biases and normalisation scales (1-D parameters) are exempt.
- Optional global-norm gradient clipping and frozen parameter subtrees (a linear probe).
"""

from __future__ import annotations

import jax
import ml_collections
import optax
from flax import traverse_util

from jaxpretrain.errors import ConfigError

REFERENCE_BATCH = 256


def peak_learning_rate(opt: ml_collections.ConfigDict, batch_size: int) -> float:
    if opt.lr_scaling == "linear":
        return opt.base_lr * batch_size / REFERENCE_BATCH
    if opt.lr_scaling == "none":
        return opt.base_lr
    raise ConfigError(
        f"config.optimizer.lr_scaling must be 'linear' or 'none', got {opt.lr_scaling!r}"
    )


def learning_rate_schedule(
    opt: ml_collections.ConfigDict, *, batch_size: int, total_steps: int
) -> optax.Schedule:
    """Warm-up then decay, as a function of the step."""
    peak = peak_learning_rate(opt, batch_size)
    warmup = min(opt.warmup_steps, total_steps)
    decay_steps = max(total_steps - warmup, 1)
    end = peak * opt.end_lr_fraction
    if opt.decay == "cosine":
        after = optax.cosine_decay_schedule(peak, decay_steps, alpha=opt.end_lr_fraction)
    elif opt.decay == "linear":
        after = optax.linear_schedule(peak, end, decay_steps)
    elif opt.decay == "constant":
        after = optax.constant_schedule(peak)
    elif opt.decay == "rsqrt":
        if warmup == 0:
            raise ConfigError(
                "config.optimizer.decay='rsqrt' decays as √(warmup_steps / step): set "
                "config.optimizer.warmup_steps > 0 (Vaswani et al. used 4000)"
            )
        # join_schedules counts the decay's steps from the end of the warm-up: s = warmup + i.
        after = lambda i: peak * jax.lax.rsqrt(1.0 + i / warmup)  # noqa: E731
    else:
        raise ConfigError(
            "config.optimizer.decay must be 'cosine', 'linear', 'constant' or 'rsqrt', got "
            f"{opt.decay!r}"
        )
    if warmup == 0:
        return after
    return optax.join_schedules([optax.linear_schedule(0.0, peak, warmup), after], [warmup])


def is_plain_sgd(opt: ml_collections.ConfigDict) -> bool:
    """True for θ ← θ − lr·∇θ L exactly: SGD without momentum, weight decay, clipping or frozen
    subtrees. Only then may a step update just the rows a sparse gradient touches."""
    return (
        opt.name == "sgd"
        and not opt.momentum
        and not opt.weight_decay
        and not opt.grad_clip_norm
        and not frozen_subtrees(opt)
    )


def frozen_subtrees(opt: ml_collections.ConfigDict) -> set[str]:
    """The parameter subtrees ``opt.freeze`` names, as '/'-separated paths ("backbone" for a
    linear probe, "backbone/bilm" for ELMo's biLM under a learned scalar mix)."""
    return {name.strip().strip("/") for name in opt.freeze.split(",") if name.strip().strip("/")}


def is_frozen(path: tuple[str, ...], frozen: set[str]) -> bool:
    """Whether the parameter at ``path`` (its keys from the root) lies in a frozen subtree."""
    return any(tuple(f.split("/")) == path[: len(f.split("/"))] for f in frozen)


def decay_mask(params):
    """True for parameters that get weight decay: everything but biases and norm scales."""
    return jax.tree.map(lambda p: p.ndim > 1, params)


def _frozen_labels(params, frozen: set[str]):
    flat = traverse_util.flatten_dict(params)
    unknown = {f for f in frozen if not any(is_frozen(path, {f}) for path in flat)}
    if unknown:
        tops = sorted(params)
        raise ConfigError(
            f"config.optimizer.freeze names {sorted(unknown)}, which are not parameter subtrees"
            f" ('/'-separated paths such as 'backbone'; the top-level ones are {tops})"
        )
    labels = {path: "frozen" if is_frozen(path, frozen) else "train" for path in flat}
    return traverse_util.unflatten_dict(labels)


def make_optimizer(
    opt: ml_collections.ConfigDict, *, batch_size: int, total_steps: int, params=None
) -> tuple[optax.GradientTransformation, optax.Schedule]:
    """The optax transformation for ``opt`` and its learning-rate schedule.

    ``params`` (or an abstract tree of the same structure) is needed only when ``opt.freeze`` is set.
    """
    schedule = learning_rate_schedule(opt, batch_size=batch_size, total_steps=total_steps)
    if opt.name == "sgd":
        core = optax.chain(
            optax.add_decayed_weights(opt.weight_decay, mask=decay_mask),
            optax.sgd(schedule, momentum=opt.momentum or None, nesterov=opt.nesterov),
        )
    elif opt.name == "adamw":
        core = optax.adamw(
            schedule, b1=opt.b1, b2=opt.b2, weight_decay=opt.weight_decay, mask=decay_mask
        )
    else:
        raise ConfigError(f"config.optimizer.name must be 'sgd' or 'adamw', got {opt.name!r}")
    if opt.grad_clip_norm > 0:
        core = optax.chain(optax.clip_by_global_norm(opt.grad_clip_norm), core)
    frozen = frozen_subtrees(opt)
    if frozen:
        if params is None:
            raise ConfigError("make_optimizer needs params to freeze subtrees")
        core = optax.multi_transform(
            {"train": core, "frozen": optax.set_to_zero()}, _frozen_labels(params, frozen)
        )
    return core, schedule
