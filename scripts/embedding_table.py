"""The contextual-embedding table of scripts/compare.py --embeddings: three frozen encoders under
the same small classifier on KJV tasks (configs/probe_kjv.py), several seeds each.

Arms:
- "elmo": the biLM of an ELMo run (configs/elmo_kjv.py), frozen, under a scalar mix the task
  learns (Peters et al. 2018, Eq. 1);
- "cbow": the mean of the verse's CBOW vectors from a cbow run (configs/cbow_kjv.py), frozen;
- "random_bilm": the same biLM and mix as "elmo" with random, frozen weights: what the
  architecture gives without pretraining.
Each arm trains the probe's task layer (and for the biLMs the mix) with the same schedule; the
cell is the task's headline metric on its eval split (accuracy for section, Matthews
correlation for grammar), mean ± std over the seeds. The ELMo arm's learned mix weights
softmax(s) (token layer, LSTM 1, LSTM 2), averaged over seeds, say which layer each task reads.
"""

from __future__ import annotations

import os

import jax
import numpy as np

from jaxpretrain import config as config_lib
from jaxpretrain.data.text_tasks import KJV_TASKS
from jaxpretrain.errors import ConfigError
from jaxpretrain.train import checkpoint, train
from jaxpretrain.train.metrics import read_metrics

ARMS = ("elmo", "cbow", "random_bilm")
PROBE_CONFIG = os.path.join(os.path.dirname(__file__), "..", "configs", "probe_kjv.py")


def arm_config(arm: str, task: str, seed: int, *, elmo_dir: str, cbow_dir: str, smoke: bool):
    """The probe config of one arm, task and seed."""
    encoder = "cbow" if arm == "cbow" else "elmo"
    config = config_lib.load(PROBE_CONFIG, f"{'smoke,' if smoke else ''}{encoder},{task}")
    config.seed = config.data.seed = seed
    if arm == "cbow":
        config.init_from = config.data.word_vocab = cbow_dir
    elif arm == "elmo":
        config.init_from = elmo_dir
    else:  # The same frozen biLM and mix, randomly initialised.
        config.method, config.init_from = "supervised", ""
    return config


def headline(task: str) -> str:
    """The metrics.jsonl key a task is scored by, e.g. "eval/accuracy"."""
    return f"eval/{KJV_TASKS[task].metrics[0]}"


def final_metric(workdir: str, key: str) -> float:
    rows = [r for r in read_metrics(workdir) if key in r]
    if not rows:
        raise ConfigError(f"{workdir}/metrics.jsonl has no {key!r}.")
    return float(rows[-1][key])


def mix_weights(workdir: str) -> np.ndarray:
    """softmax(s) of the scalar mix a probe run learned, float [L + 1]."""
    weights = checkpoint.restore_params(workdir)["backbone"]["mix"]["weights"]
    return np.asarray(jax.nn.softmax(np.asarray(weights)))


def run(tasks, seeds, root: str, *, elmo_dir: str, cbow_dir: str, smoke: bool) -> str:
    """Trains every arm, task and seed under ``root`` and returns the table (markdown)."""
    scores: dict[tuple[str, str], list[float]] = {}
    weights: dict[str, list[np.ndarray]] = {}
    for task in tasks:
        for seed in seeds:
            for arm in ARMS:
                workdir = os.path.join(root, f"{arm}_{task}_seed{seed}")
                config = arm_config(
                    arm, task, seed, elmo_dir=elmo_dir, cbow_dir=cbow_dir, smoke=smoke
                )
                train(config, workdir)
                scores.setdefault((task, arm), []).append(final_metric(workdir, headline(task)))
                if arm == "elmo":
                    weights.setdefault(task, []).append(mix_weights(workdir))
    return table(tasks, scores, weights)


def table(tasks, scores, weights) -> str:
    """Markdown: a row per task, a column per arm, and the ELMo arm's mean mix weights."""
    lines = [
        "| task (metric) | frozen ELMo + learned mix | averaged CBOW | random biLM + mix |"
        " ELMo mix softmax(s): token, LSTM 1, LSTM 2 |",
        "|---|---:|---:|---:|---|",
    ]
    for task in tasks:
        cells = [
            f"{np.mean(scores[task, arm]):.3f} ± {np.std(scores[task, arm]):.3f}" for arm in ARMS
        ]
        mix = np.mean(weights[task], axis=0)
        top = ("token layer", *(f"LSTM {j}" for j in range(1, len(mix))))[int(np.argmax(mix))]
        lines.append(
            f"| {task} ({KJV_TASKS[task].metrics[0]}) | {' | '.join(cells)} |"
            f" {', '.join(f'{w:.2f}' for w in mix)} (most: {top}) |"
        )
    return "\n".join(lines)
