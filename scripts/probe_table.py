"""Linear probes of frozen encoders, one table: each pretraining method vs random-init vs supervised.

  python scripts/probe_table.py --table_workdir=runs/probe_table   # co-training, CPC on MNIST-1D
  python scripts/probe_table.py --table_pretrain=configs/cotraining_mnist1d.py --table_seeds=0 \
      --table_smoke --table_workdir=/tmp/probe_table                  # seconds (smoke configs)

For every seed, each --table_pretrain config is trained with that seed (or resumed / reused if
its workdir already holds the run), then the --table_probe config (a linear probe: method
``finetune``, ``optimizer.freeze="backbone"``) is trained on each run's inherited encoder
(``init_from``, the method's ``ENCODER``), and on two baselines with the same data and
backbone: "random-init", the probe of the frozen untrained encoder (method ``supervised``, no
``init_from``), and "supervised", the whole encoder trained with labels (``freeze=""``,
--table_supervised_lr); --table_baselines picks which baselines run. Prints the final --table_metric of each row as mean ± std over the seeds
and writes the table to <workdir>/probe_table.md.
"""

from __future__ import annotations

import os

import numpy as np
from absl import flags, logging

from jaxpretrain import cli
from jaxpretrain import config as config_lib
from jaxpretrain.errors import ConfigError
from jaxpretrain.train import train
from jaxpretrain.train.metrics import read_metrics

# Flag names start with "table_": scripts share one process in the tests, so none may clash.
_PRETRAIN = flags.DEFINE_list(
    "table_pretrain",
    ["configs/cotraining_mnist1d.py", "configs/cpc_mnist1d.py"],
    "Pretraining configs; one row each, named by the config's method.",
)
_PROBE = flags.DEFINE_string(
    "table_probe", "configs/cpc_probe_mnist1d.py", "The linear-probe config every row shares."
)
_SEEDS = flags.DEFINE_list("table_seeds", ["0", "1", "2"], "Seeds (pretraining and probe).")
_WORKDIR = flags.DEFINE_string("table_workdir", "runs/probe_table", "Directory for every run.")
_SMOKE = flags.DEFINE_bool("table_smoke", False, "Load every config's smoke variant.")
_SUPERVISED_LR = flags.DEFINE_float(
    "table_supervised_lr", 3e-3, "The supervised row's lr (it trains the whole encoder)."
)
_METRIC = flags.DEFINE_string("table_metric", "eval/accuracy", "metrics.jsonl key tabulated.")
BASELINES = ("random-init", "supervised")
_BASELINES = flags.DEFINE_list(
    "table_baselines", list(BASELINES), f"Baseline rows, of {BASELINES}."
)


def probe_configs(
    probe, *, seed: int, pretrained: dict[str, str], supervised_lr: float, baselines=BASELINES
) -> dict:
    """{row: config}: the probe on each pretrained run (``pretrained``: {row: workdir}), then the
    ``baselines`` ("random-init" probe, "supervised" encoder), all with ``seed``."""
    unknown = set(baselines) - set(BASELINES)
    if unknown:
        raise ConfigError(f"unknown baselines {sorted(unknown)}; choose from {BASELINES}")
    rows = {**{name: ("finetune", workdir) for name, workdir in pretrained.items()}}
    rows.update({baseline: ("supervised", "") for baseline in baselines})
    configs = {}
    for name, (method, init_from) in rows.items():
        config = probe.copy_and_resolve_references()
        config.seed, config.method, config.init_from = seed, method, init_from
        if name == "supervised":
            config.optimizer.freeze = ""  # The encoder learns too.
            config.optimizer.base_lr = supervised_lr
        configs[name] = config
    return configs


def final_metric(workdir: str, metric: str) -> float:
    values = [row[metric] for row in read_metrics(workdir) if metric in row]
    if not values:
        raise ConfigError(f"{workdir}/metrics.jsonl has no {metric!r}")
    return values[-1]


def table(results: dict[str, list[float]], metric: str) -> str:
    """Markdown: one row per encoder, mean ± std over the seeds, and each seed's value."""
    lines = [f"| encoder | probe {metric} | seeds |", "|---|---:|---|"]
    for name, values in results.items():
        v = np.array(values)
        seeds = ", ".join(f"{x:.3f}" for x in v)
        lines.append(f"| {name} | {v.mean():.3f} ± {v.std():.3f} | {seeds} |")
    return "\n".join(lines)


def run(
    pretrain_paths, probe_path: str, seeds, workdir: str, *, smoke: bool, supervised_lr: float,
    baselines=BASELINES, metric: str = "eval/accuracy",
) -> str:  # fmt: skip
    """Train every run (resuming finished ones is free) and return the markdown table."""
    arg = "smoke" if smoke else None
    probe = config_lib.load(probe_path, arg)
    results: dict[str, list[float]] = {}
    for seed in seeds:
        pretrained = {}
        for path in pretrain_paths:
            config = config_lib.load(path, arg)
            config.seed = seed
            pretrained[config.method] = os.path.join(workdir, f"{config.method}_seed{seed}")
            train(config, pretrained[config.method])
        configs = probe_configs(
            probe,
            seed=seed,
            pretrained=pretrained,
            supervised_lr=supervised_lr,
            baselines=baselines,
        )
        for name, config in configs.items():
            probe_dir = os.path.join(workdir, f"probe_{name}_seed{seed}")
            train(config, probe_dir)
            results.setdefault(name, []).append(final_metric(probe_dir, metric))
    return table(results, metric)


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)
    markdown = run(
        _PRETRAIN.value,
        _PROBE.value,
        [int(s) for s in _SEEDS.value],
        _WORKDIR.value,
        smoke=_SMOKE.value,
        supervised_lr=_SUPERVISED_LR.value,
        baselines=_BASELINES.value,
        metric=_METRIC.value,
    )
    print(markdown)
    with open(os.path.join(_WORKDIR.value, "probe_table.md"), "w") as f:
        f.write(markdown + "\n")
    print(f"wrote {_WORKDIR.value}/probe_table.md")


if __name__ == "__main__":
    cli.run(main)
