"""Test-wide set-up: 8 fake CPU devices (set before JAX is imported) and config loading."""

import os

_FLAG = "--xla_force_host_platform_device_count=8"
if _FLAG not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + _FLAG).strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import sys  # noqa: E402

import jax  # noqa: E402
import pytest  # noqa: E402

from jaxpretrain import config as config_lib  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = sorted(f for f in os.listdir(os.path.join(ROOT, "configs")) if f.endswith(".py"))


def load_config(name: str, arg: str | None = "smoke"):
    """The config ``configs/<name>.py`` with ``arg`` (default: the smoke variant)."""
    return config_lib.load(os.path.join(ROOT, "configs", f"{name}.py"), arg)


@pytest.fixture
def smoke_config():
    return load_config


def subprocess_env(num_devices: int = 1, **distributed) -> dict:
    """Environment for a training subprocess: CPU only, ``num_devices`` host devices, and part of
    a multi-host job only if ``distributed`` sets JAX_COORDINATOR_ADDRESS and friends."""
    env = dict(os.environ)
    for key in (
        "JAX_COORDINATOR_ADDRESS",
        "JAX_NUM_PROCESSES",
        "JAX_PROCESS_ID",
        "JAXPRETRAIN_DISTRIBUTED",
    ):
        env.pop(key, None)
    env.update(
        JAX_PLATFORMS="cpu", XLA_FLAGS=f"--xla_force_host_platform_device_count={num_devices}"
    )
    env.update({k: str(v) for k, v in distributed.items()})
    return env


def train_command(workdir, *overrides: str, config: str = "supervised_digits", arg="smoke") -> list:
    """``python scripts/train.py --config=configs/<config>.py[:arg] --workdir=... <overrides>``."""
    config_flag = os.path.join(ROOT, "configs", f"{config}.py") + (f":{arg}" if arg else "")
    return [
        sys.executable,
        os.path.join(ROOT, "scripts", "train.py"),
        f"--config={config_flag}",
        f"--workdir={workdir}",
        *overrides,
    ]


def overfit_one_batch(config, *, steps: int = 150, lr: float = 3e-3):
    """Train on batch 0 only with constant-lr AdamW; return the first and last step's metrics."""
    from jaxpretrain import parallel
    from jaxpretrain.train.experiment import build_experiment

    config.optimizer.name = "adamw"
    config.optimizer.lr_scaling = "none"
    config.optimizer.base_lr = lr
    config.optimizer.decay = "constant"
    config.optimizer.warmup_steps = 0
    config.optimizer.weight_decay = 0.0
    experiment = build_experiment(config, parallel.make_mesh())
    batch = experiment.global_batch(0)
    state, first = experiment.step(experiment.state, batch)
    for _ in range(steps):
        state, metrics = experiment.step(state, batch)
    return jax.device_get((first, metrics))
