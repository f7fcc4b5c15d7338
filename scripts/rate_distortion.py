"""The rate-distortion curve of the noisy-channel RDA: one run per λ1 (distortion weight), with
λ2 = 0 (a plain RDA) and λ2 > 0 (with the discrimination loss) side by side.

  python scripts/rate_distortion.py --config=configs/rda_digits.py --workdir=runs/rd \
      --distortion_weights=5,20,50,200 --discrimination_weights=0,1 --steps=600
  python scripts/rate_distortion.py --config=configs/rda_mnist1d.py:smoke --workdir=/tmp/rd \
      --distortion_weights=1,10 --discrimination_weights=0 --steps=2

Each run trains ``--config`` with config.rda.distortion_weight = λ1 and
config.rda.discrimination_weight = λ2 (and ``--steps`` steps, if given) in
<workdir>/l2_<λ2>/l1_<λ1> (finished runs are reused), and reads its final evaluation: rate
(nats per example, the bound E KL ≥ I(y, z)), distortion (Σ over an example's elements), MSE per
element, and the discriminator's accuracies. Writes <workdir>/rate_distortion.md (one row per λ1,
a column group per λ2) and <workdir>/rate_distortion.png (distortion against rate, one curve per
λ2: the operational R(D) curves of the two objectives).
"""

from __future__ import annotations

import os

from absl import app, flags, logging
from ml_collections import config_flags

from jaxpretrain import cli
from jaxpretrain.train import train
from jaxpretrain.train.metrics import read_metrics

KEYS = ("rate", "distortion", "mse", "real_accuracy", "fake_accuracy")


def run(config, workdir: str, *, distortion_weight: float, discrimination_weight: float) -> dict:
    """Train one point of the sweep (or reuse it) and return its final ``eval/<KEYS>``."""
    config = config.copy_and_resolve_references()
    config.rda.distortion_weight = float(distortion_weight)
    config.rda.discrimination_weight = float(discrimination_weight)
    train(config, workdir)
    row = [r for r in read_metrics(workdir) if "eval/rate" in r][-1]
    return {key: row[f"eval/{key}"] for key in KEYS}


def sweep(config, workdir: str, distortion_weights, discrimination_weights) -> dict:
    """{(λ2, λ1): final eval metrics} over the grid, each run in <workdir>/l2_<λ2>/l1_<λ1>."""
    return {
        (l2, l1): run(
            config,
            os.path.join(workdir, f"l2_{l2:g}", f"l1_{l1:g}"),
            distortion_weight=l1,
            discrimination_weight=l2,
        )
        for l2 in discrimination_weights
        for l1 in distortion_weights
    }


def table(results: dict) -> str:
    """Markdown: one row per λ1; per λ2, rate (nats), distortion, MSE and D's accuracy on
    reconstructions (fake) and on data (real)."""
    l2s = sorted({l2 for l2, _ in results})
    l1s = sorted({l1 for _, l1 in results})
    head = "| λ1 | " + " | ".join(
        f"λ2={l2:g} rate | λ2={l2:g} distortion | λ2={l2:g} MSE | λ2={l2:g} D acc. fake/real"
        for l2 in l2s
    )
    lines = [head + " |", "|---:|" + "---:|" * (4 * len(l2s))]
    for l1 in l1s:
        cells = []
        for l2 in l2s:
            r = results[l2, l1]
            cells += [
                f"{r['rate']:.2f}",
                f"{r['distortion']:.3f}",
                f"{r['mse']:.4f}",
                f"{r['fake_accuracy']:.2f} / {r['real_accuracy']:.2f}",
            ]
        lines.append(f"| {l1:g} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(results: dict, path: str, title: str = "") -> None:
    """Distortion against rate, one curve (in λ1 order, points labelled) per λ2."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.8))
    for l2 in sorted({l2 for l2, _ in results}):
        l1s = sorted(l1 for k, l1 in results if k == l2)
        rates = [results[l2, l1]["rate"] for l1 in l1s]
        distortions = [results[l2, l1]["distortion"] for l1 in l1s]
        ax.plot(rates, distortions, "o-", label=f"λ2 = {l2:g}")
        for l1, x, y in zip(l1s, rates, distortions):
            ax.annotate(f"λ1={l1:g}", (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.set_xlabel("rate E KL(P(z|y), p̂(z)) [nats / example]")
    ax.set_ylabel("distortion E‖y − ŷ‖²")
    ax.set_yscale("log")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    logging.set_verbosity(logging.WARNING)
    config, root = _CONFIG.value, _WORKDIR.value
    if _STEPS.value:
        config.total_steps = _STEPS.value
        config.eval_every = config.checkpoint_every = _STEPS.value
    results = sweep(
        config,
        root,
        [float(w) for w in _DISTORTION.value],
        [float(w) for w in _DISCRIMINATION.value],
    )
    text = table(results)
    print(text)
    os.makedirs(root, exist_ok=True)
    with open(os.path.join(root, "rate_distortion.md"), "w") as f:
        f.write(text + "\n")
    plot(results, os.path.join(root, "rate_distortion.png"), title=config.data.name)
    print(f"wrote {root}/rate_distortion.md and {root}/rate_distortion.png")


if __name__ == "__main__":
    # Flags only when run as a script: tests import the functions above beside other scripts.
    _CONFIG = config_flags.DEFINE_config_file("config", "configs/rda_digits.py", "RDA config.")
    _WORKDIR = flags.DEFINE_string("workdir", "runs/rate_distortion", "Runs and outputs.")
    _DISTORTION = flags.DEFINE_list("distortion_weights", ["5", "20", "50", "200"], "λ1 values.")
    _DISCRIMINATION = flags.DEFINE_list("discrimination_weights", ["0", "1"], "λ2 values.")
    _STEPS = flags.DEFINE_integer("steps", 0, "Training steps per run; 0: the config's.")
    cli.run(main)
