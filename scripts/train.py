"""Train any jaxpretrain method from a config file; the same command on every host.

  python scripts/train.py --config=configs/supervised_digits.py --workdir=runs/sup
  python scripts/train.py --config=configs/supervised_digits.py:smoke --workdir=/tmp/sup \
      --config.optimizer.base_lr=0.05

Restarting the same command resumes from the latest checkpoint in --workdir. Overrides of
unknown config keys, or of the wrong type, are errors that name the key. --dry_run compiles the
step for the configured mesh and prints its memory per device and FLOPs without training.
"""

from absl import app, flags, logging
from ml_collections import config_flags

from jaxpretrain import cli
from jaxpretrain.train import train
from jaxpretrain.train.aot import dry_run

_CONFIG = config_flags.DEFINE_config_file("config", None, "Experiment config file (path[:arg]).")
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory for checkpoints, metrics and pictures.")
_DRY_RUN = flags.DEFINE_bool("dry_run", False, "Compile the step, print its cost, do not train.")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    logging.set_verbosity(logging.WARNING)  # Orbax is chatty at INFO.
    if _DRY_RUN.value:
        print(dry_run(_CONFIG.value), flush=True)
        return
    train(_CONFIG.value, _WORKDIR.value)


if __name__ == "__main__":
    cli.run(main)
