"""Test-wide set-up: 8 fake CPU devices (set before JAX is imported) and config loading."""

import os

_FLAG = "--xla_force_host_platform_device_count=8"
if _FLAG not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + _FLAG).strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")

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
