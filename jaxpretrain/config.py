"""Keys every experiment config shares, and their validation.

Config files in ``configs/`` start from :func:`base_config` and add the method's own fields. A
config is an ``ml_collections.ConfigDict``: typed fields, so a command-line override of an unknown
key or with the wrong type is an error naming the key (``ml_collections.config_flags``).
"""

from __future__ import annotations

import importlib.util
import os

import ml_collections

from jaxpretrain.errors import ConfigError, NotFoundError


def optimizer_config(name: str = "sgd", *, base_lr: float = 0.1) -> ml_collections.ConfigDict:
    """The optimizer block shared by every method (see ``jaxpretrain.train.optim``)."""
    c = ml_collections.ConfigDict()
    c.name = name  # "sgd" (heavy-ball momentum) or "adamw".
    c.base_lr = base_lr  # Learning rate at a global batch of 256 when lr_scaling="linear".
    c.lr_scaling = (
        "linear"  # "linear": lr = base_lr * batch_size / 256 (Goyal et al. 2017); "none".
    )
    c.warmup_steps = 0  # Linear warm-up from 0 (Goyal et al.'s gradual warm-up).
    c.decay = "cosine"  # After warm-up: "cosine", "linear", "constant" or "rsqrt" (1/√step).
    c.end_lr_fraction = 0.0  # Final lr as a fraction of the peak lr.
    c.momentum = 0.9  # sgd only.
    c.nesterov = False  # sgd only.
    c.b1 = 0.9  # adamw only.
    c.b2 = 0.999  # adamw only.
    c.weight_decay = (
        0.0  # Decoupled for adamw, L2 added to the gradient for sgd; never on biases/norms.
    )
    c.grad_clip_norm = 0.0  # Clip the global gradient norm to this; 0 disables.
    c.freeze = ""  # Comma-separated parameter subtrees left untouched: "backbone", "backbone/bilm".
    return c


def base_config() -> ml_collections.ConfigDict:
    """Keys that every method's config has, with these names (DESIGN.md)."""
    c = ml_collections.ConfigDict()
    c.method = ""  # A key of jaxpretrain.methods.METHODS.
    c.seed = 0  # Seeds initialisation, the data order and every random draw in the step.
    c.total_steps = 1000  # Optimizer steps in the whole run (resumes continue towards it).
    c.batch_size = 256  # Global batch over all devices and hosts; must divide by the device count.
    c.log_every = 50  # Steps between metrics.jsonl / TensorBoard rows (and the NaN check).
    c.eval_every = 500  # Steps between evaluations on the eval split; 0 disables (except the last).
    c.checkpoint_every = 1000  # Steps between checkpoints; one is always written at the end.
    c.keep_checkpoints = 3  # Newest checkpoints kept in <workdir>/checkpoints.
    c.init_from = ""  # Pretrained weights: a workdir, its checkpoints/ dir or one step dir.
    c.init_subtree = "backbone"  # Which top-level parameter subtree init_from fills.
    c.fsdp = (
        False  # Shard parameters and optimizer state over devices (ZeRO-3) instead of replicating.
    )
    c.microbatches = 1  # Gradient accumulation: slices of the batch run one after another per step.
    # Steps per jitted call (a loop over k steps' batches, [k, B, ...]): the same parameters as
    # 1, less host work per step; the loop shortens dispatches so logs and saves land on their steps.
    c.steps_per_dispatch = 1
    # The device mesh (data, model): the batch splits over `data`, attention heads, MLP columns
    # and the vocabulary over `model` (tensor parallelism; jaxpretrain.parallel.rules).
    c.mesh = ml_collections.ConfigDict(
        dict(model=1)  # Devices per model replica; divides the device count. data = devices/model.
    )
    c.optimizer = optimizer_config()
    return c


def adam_per_step(base_lr: float, *, warmup_steps: int) -> ml_collections.ConfigDict:
    """AdamW at ``base_lr`` per step (``lr_scaling`` "none": Adam's rate does not scale with the
    batch) after ``warmup_steps`` of linear warm-up, cosine decay."""
    c = optimizer_config("adamw", base_lr=base_lr)
    c.lr_scaling = "none"
    c.warmup_steps = warmup_steps
    return c


def dcgan_discriminator_optimizer(*, warmup_steps: int) -> ml_collections.ConfigDict:
    """A GAN discriminator's optimizer (``config.optimizers.discriminator``): Adam with DCGAN's
    lr 2e-4 and β1 0.5 (Radford et al. 2016, Sec. 4), per step."""
    c = adam_per_step(2e-4, warmup_steps=warmup_steps)
    c.b1 = 0.5
    return c


def rda_objective(
    *, distortion_weight: float, discrimination_weight: float, discriminator_features: tuple
) -> ml_collections.ConfigDict:
    """The ``rda`` block of the noisy-channel RDA configs (``methods.rda``): the loss
    KL(P_Φ(z|y), p̂(z)) + λ1 Dist(y, ŷ) + λ2 (−ln D(ŷ)) and its discriminator's widths."""
    return ml_collections.ConfigDict(
        dict(
            distortion_weight=distortion_weight,  # λ1 > 0.
            discrimination_weight=discrimination_weight,  # λ2 >= 0; 0: a plain RDA (D trains).
            distortion="l2",  # Dist: "l2" ‖y − ŷ‖² or "l1" ‖y − ŷ‖₁, summed over values.
            conditional=False,  # Class prior P_Φ(z|x), decoder and D conditioned on the label.
            learned_prior=False,  # Unconditional only: learn p̂(z) = N(μ_p, σ_p²), not N(0, I).
            discriminator_features=discriminator_features,  # D's stages (conv) or widths (MLP).
        )
    )


def digits_resnet(*, smoke: bool = False) -> ml_collections.ConfigDict:
    """The small ResNet for 8x8 digits, shared by the digits configs so their checkpoints fit."""
    return ml_collections.ConfigDict(
        dict(
            backbone="resnet",  # models.BACKBONES: a GroupNorm ResNet.
            variant="resnet18",  # Preset whose fields the entries below replace.
            stage_sizes=(1, 1) if smoke else (1, 1, 1),  # Residual blocks per stage; 8x8 -> 2x2.
            width=8 if smoke else 16,  # Channels of the first stage, doubled per stage.
            block="basic",  # Two 3x3 convolutions per block.
            stem="small",  # One 3x3 convolution and no pooling: the images are 8x8.
            num_groups=4,  # GroupNorm groups.
        )
    )


def bert_kjv_model(*, smoke: bool = False) -> ml_collections.ConfigDict:
    """The small BERT of configs/bert_kjv.py, shared with its fine-tunes so their checkpoints fit."""
    return ml_collections.ConfigDict(
        dict(
            backbone="bert",  # models.BACKBONES: BERT's encoder; a classifier reads its pooled [CLS].
            variant="bert-mini",  # Preset whose fields the entries below replace.
            vocab_size=512
            if smoke
            else 8192,  # V: the WordPiece vocabulary of the pretraining data.
            max_length=32 if smoke else 128,  # Learned positions: the longest input.
            num_layers=2 if smoke else 4,  # L post-LN Transformer layers.
            num_heads=2 if smoke else 4,  # H attention heads; must divide width.
            width=32 if smoke else 256,  # D, the hidden size (the MLP is 4D wide).
            dropout_rate=0.1,  # On embeddings and every residual branch, in training (BERT).
            dtype="float32",  # Compute dtype; "bfloat16" on accelerators.
            attention="einsum",  # The equations; "cudnn": flash attention on NVIDIA GPUs (bf16).
        )
    )


def elmo_kjv_model(*, smoke: bool = False) -> ml_collections.ConfigDict:
    """The small ELMo of configs/elmo_kjv.py, shared with its downstream probes so checkpoints fit
    (bilm-tf's architecture, scaled down: its full model has the filters
    ``models.elmo.ELMO_FILTERS``, 2 highway layers, P = 512 and F = 4096)."""
    return ml_collections.ConfigDict(
        dict(
            backbone="elmo",  # models.BACKBONES: the biLM + a scalar mix, for downstream tasks.
            # (width, count) character convolutions: bilm-tf's first five, at a quarter the count.
            filters=((1, 8), (2, 8), (3, 16))
            if smoke
            else ((1, 32), (2, 32), (3, 64), (4, 64), (5, 64)),
            char_features=8 if smoke else 16,  # E, the character embedding size (ELMo: 16).
            highway_layers=1,  # Highway layers after the convolutions (ELMo's small model: 1).
            projection=16 if smoke else 128,  # P: token layer and LSTM output size.
            lstm_features=32 if smoke else 256,  # F, the LSTM cell size (projected to P).
            num_layers=2,  # LSTM layers per direction, residual around the second.
            cell_clip=3.0,  # |c| clip (bilm-tf).
            projection_clip=3.0,  # |h| clip (bilm-tf).
            dropout_rate=0.1,  # On each LSTM layer's input, in training (bilm-tf).
        )
    )


def split_argument(arg: str | None, default: str) -> tuple[bool, str]:
    """(smoke, value) of a config argument "value", "smoke", "smoke,value" or None, for configs
    whose argument names something (a task, a directory) besides the smoke variant."""
    smoke, _, value = (arg or "").rpartition(",")
    if not smoke and value == "smoke":
        smoke, value = "smoke", ""
    if smoke not in ("", "smoke"):
        raise ConfigError(f"unknown config argument {arg!r}; use '<value>' or 'smoke,<value>'")
    return smoke == "smoke", value or default


def is_smoke(arg: str | None) -> bool:
    """Whether a config argument asks for the smoke variant; anything but None/"smoke" is an error."""
    if arg not in (None, "smoke"):
        raise ConfigError(f"unknown config argument {arg!r}; use 'smoke' or nothing")
    return arg == "smoke"


def shrink_to_smoke(c: ml_collections.ConfigDict, *, total_steps: int = 6) -> None:
    """The smoke variant of a run: seconds of training, global batch 16 (divides 1, 2, 8 devices),
    warm-ups of at most 1 step (per-player optimizers included)."""
    c.total_steps = total_steps
    c.batch_size = 16
    c.log_every = 2
    c.eval_every = 0  # The final evaluation still runs.
    c.checkpoint_every = total_steps // 2
    c.optimizer.warmup_steps = 1
    for player in c.get("optimizers", {}).values():  # Per-player optimizers: at most 1 step.
        player.warmup_steps = min(player.warmup_steps, 1)


REQUIRED_KEYS = (
    "method",
    "seed",
    "total_steps",
    "batch_size",
    "log_every",
    "eval_every",
    "checkpoint_every",
    "keep_checkpoints",
    "init_from",
    "optimizer",
)


def validate(config: ml_collections.ConfigDict, *, num_devices: int) -> None:
    """Raise ConfigError naming the key and the fix for a config that cannot run."""
    missing = [k for k in REQUIRED_KEYS if k not in config]
    if missing:
        raise ConfigError(
            f"config lacks the shared keys {missing}; start it from jaxpretrain.config.base_config()"
        )
    for key in ("total_steps", "batch_size", "log_every", "keep_checkpoints"):
        if config[key] <= 0:
            raise ConfigError(f"config.{key} must be positive, got {config[key]}")
    model = config.get("mesh", {}).get("model", 1)
    if model <= 0 or num_devices % model:
        raise ConfigError(
            f"config.mesh.model={model} does not divide the {num_devices} devices; use a divisor "
            f"of {num_devices} (1 for data parallelism only)"
        )
    steps_per_dispatch = config.get("steps_per_dispatch", 1)
    if not isinstance(steps_per_dispatch, int) or steps_per_dispatch <= 0:
        raise ConfigError(
            f"config.steps_per_dispatch must be a positive int (1: a jitted call per step), got"
            f" {steps_per_dispatch!r}"
        )
    microbatches = config.get("microbatches", 1)
    if microbatches <= 0:
        raise ConfigError(f"config.microbatches must be positive, got {microbatches}")
    rows = num_devices // model * microbatches  # Each slice splits over the data axis.
    if config.batch_size % rows:
        raise ConfigError(
            f"config.batch_size={config.batch_size} does not divide into config.microbatches="
            f"{microbatches} slices over {num_devices // model} data-parallel devices "
            f"({num_devices} devices / config.mesh.model={model}); use a multiple of {rows}"
        )


def load(path: str, arg: str | None = None) -> ml_collections.ConfigDict:
    """``get_config(arg)`` of the config file at ``path`` (what ``--config=path:arg`` loads)."""
    spec = importlib.util.spec_from_file_location(f"config_{abs(hash(path))}", path)
    if spec is None or not os.path.exists(path):
        raise NotFoundError(f"no config file at {path!r}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.get_config(arg)
