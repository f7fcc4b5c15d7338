"""Pretrained vs from-scratch at several budgets: training steps (He et al. 2019, "Rethinking
ImageNet Pre-training": does training from scratch catch up with a longer schedule?) or labels.

  python scripts/compare.py --workdir=runs/compare            # the digits demo (defaults)
  python scripts/compare.py --pretrain_config=configs/supervised_digits.py \
      --finetune_config=configs/finetune_digits.py --budgets=10,30,100,300 --seeds=0,1,2 \
      --workdir=runs/compare
  # BERT on a KJV task at 10, 50 and all (0) labels per class, from one pretraining run:
  python scripts/compare.py --pretrain_config=configs/bert_kjv.py --pretrain_workdir=runs/bert_kjv \
      --finetune_config=configs/finetune_bert_kjv.py:section --vary=data.per_class \
      --budgets=10,50,0 --workdir=runs/compare_section

  # Contextual embeddings: frozen ELMo (learned mix) vs averaged CBOW vs a random biLM, per task:
  python scripts/compare.py --embeddings --elmo_workdir=runs/elmo_kjv --cbow_workdir=runs/cbow_kjv \
      --tasks=section,grammar --seeds=0,1,2 --workdir=runs/compare_embeddings

Pretrains once (or resumes/reuses --pretrain_workdir, by default <workdir>/pretrain), then for
every budget and seed trains the fine-tune config twice with the same schedule: from the
pretrained backbone, and from scratch (method=supervised, no init_from). The budget is the
config field --vary names: total_steps (the default), or e.g. data.per_class (labels per class,
with the config's own schedule). A fine-tune that reads a vocabulary (``data.vocab``) reads the
pretraining run's in both arms. Prints a table of the final --metric, writes it to
<workdir>/compare.md, and draws the eval curves to <workdir>/compare.png.

With --embeddings it instead trains (or reuses) an ELMo run and a CBOW run (configs/elmo_kjv.py,
configs/cbow_kjv.py; their smoke variants with --embeddings_smoke) and probes each KJV task of --tasks with
the three frozen encoders of ``embedding_table`` (configs/probe_kjv.py), writing the table to
<workdir>/embeddings.md.
"""

from __future__ import annotations

import os

import numpy as np
from absl import flags, logging
from embedding_table import run as embedding_table
from ml_collections import config_flags

from jaxpretrain import cli
from jaxpretrain import config as config_lib
from jaxpretrain.errors import ConfigError
from jaxpretrain.train import train
from jaxpretrain.train.metrics import read_metrics

_PRETRAIN = config_flags.DEFINE_config_file(
    "pretrain_config", "configs/supervised_digits.py", "Upstream (pretraining) config."
)
_FINETUNE = config_flags.DEFINE_config_file(
    "finetune_config", "configs/finetune_digits.py", "Downstream (fine-tune) config."
)
_BUDGETS = flags.DEFINE_list(
    "budgets", ["10", "30", "100", "300"], "Downstream training steps to compare."
)
_SEEDS = flags.DEFINE_list(
    "seeds", ["0", "1", "2"], "Seeds per budget (mean and spread are reported)."
)
_WORKDIR = flags.DEFINE_string(
    "workdir", "runs/compare", "Directory for every run and the outputs."
)
_METRIC = flags.DEFINE_string("metric", "eval/accuracy", "metrics.jsonl key compared.")
_VARY = flags.DEFINE_string(
    "vary", "total_steps", "The config field each budget sets: total_steps or e.g. data.per_class."
)
_PRETRAIN_WORKDIR = flags.DEFINE_string(
    "pretrain_workdir",
    "",
    "The pretraining run (trained or resumed there); '' = <workdir>/pretrain.",
)


_EMBEDDINGS = flags.DEFINE_bool(
    "embeddings", False, "Compare frozen contextual embeddings instead (embedding_table)."
)
_ELMO_WORKDIR = flags.DEFINE_string(
    "elmo_workdir",
    "",
    "--embeddings: the ELMo run (trained there if unfinished); '' = <workdir>/elmo.",
)
_CBOW_WORKDIR = flags.DEFINE_string(
    "cbow_workdir",
    "",
    "--embeddings: the CBOW run (trained there if unfinished); '' = <workdir>/cbow.",
)
_TASKS = flags.DEFINE_list("tasks", ["section", "grammar"], "--embeddings: KJV tasks probed.")
_SMOKE = flags.DEFINE_bool(
    "embeddings_smoke", False, "--embeddings: the configs' smoke variants (for tests)."
)
_CONFIGS = os.path.join(os.path.dirname(__file__), "..", "configs")


def _embeddings(root: str) -> None:
    smoke = "smoke" if _SMOKE.value else None
    elmo_dir = _ELMO_WORKDIR.value or os.path.join(root, "elmo")
    cbow_dir = _CBOW_WORKDIR.value or os.path.join(root, "cbow")
    train(config_lib.load(os.path.join(_CONFIGS, "elmo_kjv.py"), smoke), elmo_dir)
    train(config_lib.load(os.path.join(_CONFIGS, "cbow_kjv.py"), smoke), cbow_dir)
    table = embedding_table(
        _TASKS.value,
        _seeds(),
        root,
        elmo_dir=elmo_dir,
        cbow_dir=cbow_dir,
        smoke=_SMOKE.value,
    )
    print(table)
    with open(os.path.join(root, "embeddings.md"), "w") as f:
        f.write(table + "\n")
    print(f"wrote {root}/embeddings.md")


def _downstream_config(
    base, *, vary: str, budget: int, seed: int, pretrain_dir: str, pretrained: bool
):
    config = base.copy_and_resolve_references()
    if vary == "total_steps":
        config.total_steps = budget
        config.eval_every = max(budget // 10, 1)
        config.checkpoint_every = budget
        # Warm-up takes at most a fifth of a short schedule, so every budget reaches its peak lr.
        config.optimizer.warmup_steps = min(config.optimizer.warmup_steps, budget // 5)
    else:
        block, _, key = vary.rpartition(".")
        fields = config[block] if block else config
        if key not in fields:
            raise ConfigError(f"--vary={vary}: the fine-tune config has no field {vary!r}")
        fields[key] = budget
    config.seed = seed
    if config.method in ("finetune", "supervised"):  # The classifier over any backbone.
        config.method = "finetune" if pretrained else "supervised"
    # With optimizer.freeze="backbone", "scratch" is the random-init encoder's probe. Other
    # downstream methods run with or without init_from as they are.
    config.init_from = pretrain_dir if pretrained else ""
    if "vocab" in config.data:  # Both arms read the text with the pretraining run's vocabulary.
        config.data.vocab = pretrain_dir
    return config


def _curve(workdir: str, metric: str) -> tuple[np.ndarray, np.ndarray]:
    rows = [r for r in read_metrics(workdir) if metric in r]
    if not rows:
        raise ConfigError(
            f"{workdir}/metrics.jsonl has no {metric!r}; pass --metric=<a key it has>"
        )
    return np.array([r["step"] for r in rows]), np.array([r[metric] for r in rows])


def _table(results, budgets, metric) -> str:
    lines = [
        f"| {_VARY.value} | pretrained {metric} | scratch {metric} | pretrained - scratch |",
        "|---:|---:|---:|---:|",
    ]
    for budget in budgets:
        pre = np.array([results["pretrained", budget, s][1][-1] for s in _seeds()])
        scr = np.array([results["scratch", budget, s][1][-1] for s in _seeds()])
        lines.append(
            f"| {budget} | {pre.mean():.3f} ± {pre.std():.3f} | {scr.mean():.3f} ± {scr.std():.3f} "
            f"| {pre.mean() - scr.mean():+.3f} |"
        )
    return "\n".join(lines)


def _seeds() -> list[int]:
    return [int(s) for s in _SEEDS.value]


def _plot(results, budgets, metric, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(budgets), figsize=(4 * len(budgets), 3.2), squeeze=False)
    for ax, budget in zip(axes[0], budgets):
        for kind, color in (("pretrained", "tab:blue"), ("scratch", "tab:orange")):
            for i, seed in enumerate(_seeds()):
                steps, values = results[kind, budget, seed]
                ax.plot(steps, values, color=color, alpha=0.8, label=kind if i == 0 else None)
        ax.set_title(f"{_VARY.value} = {budget}")
        ax.set_xlabel("step")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)
    root = _WORKDIR.value
    if _EMBEDDINGS.value:
        return _embeddings(root)
    budgets = [int(b) for b in _BUDGETS.value]
    pretrain_dir = _PRETRAIN_WORKDIR.value or os.path.join(root, "pretrain")
    train(_PRETRAIN.value, pretrain_dir)
    results = {}
    for budget in budgets:
        for seed in _seeds():
            for kind in ("pretrained", "scratch"):
                workdir = os.path.join(root, f"{kind}_{budget}_seed{seed}")
                config = _downstream_config(
                    _FINETUNE.value,
                    vary=_VARY.value,
                    budget=budget,
                    seed=seed,
                    pretrain_dir=pretrain_dir,
                    pretrained=kind == "pretrained",
                )
                train(config, workdir)
                results[kind, budget, seed] = _curve(workdir, _METRIC.value)
    table = _table(results, budgets, _METRIC.value)
    print(table)
    with open(os.path.join(root, "compare.md"), "w") as f:
        f.write(table + "\n")
    _plot(results, budgets, _METRIC.value, os.path.join(root, "compare.png"))
    print(f"wrote {root}/compare.md and {root}/compare.png")


if __name__ == "__main__":
    cli.run(main)
