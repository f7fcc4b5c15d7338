"""Test-wide set-up: 8 fake CPU devices (set before JAX is imported), a persistent compilation
cache shared by the test processes, and config loading."""

import getpass
import os
import tempfile

_FLAG = "--xla_force_host_platform_device_count=8"
if _FLAG not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + _FLAG).strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")
# Many tests (and the training subprocesses they start, which inherit this environment) compile
# the same smoke-config steps: JAX's on-disk cache compiles each once per machine. The key holds
# the JAX version, the computation and the flags, so a stale entry is never used; an unreadable
# one is recompiled with a warning.
os.environ.setdefault(
    "JAX_COMPILATION_CACHE_DIR",
    os.path.join(tempfile.gettempdir(), f"jaxpretrain-test-cache-{getpass.getuser()}"),
)
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")

import subprocess  # noqa: E402
import sys  # noqa: E402

import jax  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from jaxpretrain import config as config_lib  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = sorted(f for f in os.listdir(os.path.join(ROOT, "configs")) if f.endswith(".py"))


def load_config(name: str, arg: str | None = "smoke"):
    """The config ``configs/<name>.py`` with ``arg`` (default: the smoke variant)."""
    return config_lib.load(os.path.join(ROOT, "configs", f"{name}.py"), arg)


def pytest_collection_modifyitems(items):
    """Modules that hold slow (end-to-end) tests run first, each module's tests kept together
    and in order: pytest-xdist hands tests out in this order, and a long test left for the end
    would keep one worker busy while the other idles."""
    slow = {item.module.__name__ for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.module.__name__ not in slow)


@pytest.fixture
def smoke_config():
    return load_config


@pytest.fixture(scope="session")
def finished_smoke_run(tmp_path_factory) -> str:
    """The workdir of a finished ``supervised_digits`` smoke run: 6 steps on digits 0-4,
    checkpoints 3 and 6. Shared by the test modules: copy it before changing anything in it."""
    from jaxpretrain.train import train

    workdir = tmp_path_factory.mktemp("supervised")
    train(load_config("supervised_digits"), str(workdir))
    return str(workdir)


def finished_steps(workdir) -> list[int]:
    """Steps of a run's finished checkpoints (Orbax renames a temporary dir when a save completes)."""
    directory = os.path.join(workdir, "checkpoints")
    if not os.path.isdir(directory):
        return []
    return sorted(int(name) for name in os.listdir(directory) if name.isdigit())


def assert_trees_equal(actual, expected):
    """Same structure and bit-identical leaves."""
    import numpy as np

    flat_actual = jax.tree_util.tree_flatten_with_path(actual)[0]
    flat_expected = jax.tree_util.tree_flatten_with_path(expected)[0]
    assert [p for p, _ in flat_actual] == [p for p, _ in flat_expected]
    for (path, a), (_, e) in zip(flat_actual, flat_expected):
        np.testing.assert_allclose(a, e, rtol=0, atol=0, err_msg=jax.tree_util.keystr(path))


def copy_run(workdir, tmp_path) -> str:
    """A copy of the run in ``workdir`` (e.g. ``finished_smoke_run``) at ``tmp_path/run``."""
    import shutil

    copy = tmp_path / "run"
    shutil.copytree(workdir, copy)
    return str(copy)


def damage_checkpoint(workdir: str, step: int, how: str) -> None:
    """``flip``: one bit at a quarter, half and three quarters of each parameter data file (most
    such flips restore without an Orbax error, as other values); ``overwrite``: every file of the
    parameters replaced by junk (Orbax cannot read them)."""
    params = os.path.join(workdir, "checkpoints", str(step), "params")
    files = [os.path.join(root, name) for root, _, names in os.walk(params) for name in names]
    for file in files:
        if how == "overwrite":
            open(file, "wb").write(b"not a checkpoint")
        elif os.sep + "d" + os.sep in file:  # TensorStore's OCDBT keeps the array data in d/.
            data = bytearray(open(file, "rb").read())
            for quarter in (1, 2, 3):
                data[len(data) * quarter // 4] ^= 0x10
            open(file, "wb").write(bytes(data))


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


def run_script(
    command: list,
    *,
    num_devices: int = 1,
    env: dict | None = None,
    timeout: float | None = 120,
    check: bool = True,
) -> subprocess.CompletedProcess:
    """Run ``command`` in a subprocess and return it finished, stdout and stderr captured as text.

    ``command`` is a whole argv (``[sys.executable, ...]``, as ``train_command`` builds), or
    ``["<script>.py", *args]`` naming a file under scripts/ (``"peers/word_vectors.py"``), run
    with this Python. The process runs in ``ROOT`` with ``env``, or if that is None with
    ``subprocess_env(num_devices)``; ``timeout`` (seconds, None for none) is subprocess.run's.
    With ``check``, asserts that it exited with 0, showing the last 3000 characters of stderr;
    without, the caller asserts on the returncode (a test of a failure)."""
    if command[0].endswith(".py"):
        command = [sys.executable, os.path.join(ROOT, "scripts", command[0]), *command[1:]]
    result = subprocess.run(
        command,
        cwd=ROOT,
        env=subprocess_env(num_devices) if env is None else env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check:
        assert result.returncode == 0, result.stderr[-3000:]
    return result


def max_relative_difference(got, want) -> float:
    """max |got - want| / max |want| over every parameter of two trees but the attention key
    biases: their exact gradient is zero (q·b_K adds the same to every key's logit, which the
    softmax ignores), and Adam turns the rounding noise in its place into lr-sized steps that
    differ with the device layout."""

    def compared(params):
        flat = jax.tree_util.tree_flatten_with_path(jax.device_get(params))[0]
        return [x for path, x in flat if "['key']['bias']" not in jax.tree_util.keystr(path)]

    got, want = compared(got), compared(want)
    diff = max(float(np.max(np.abs(np.asarray(a) - b))) for a, b in zip(got, want))
    return diff / max(float(np.max(np.abs(b))) for b in want)


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


@pytest.fixture(scope="session")
def hf_gpt2_dir(tmp_path_factory):
    """A random tiny Hugging Face GPT-2 directory (config.json, model.safetensors) with a 300-id
    byte-level BPE trained on the KJV in GPT-2's file format (vocab.json, merges.txt)."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    from jaxpretrain.data import Tokenizer, kjv_text

    directory = tmp_path_factory.mktemp("hf_gpt2")
    tokenizer = Tokenizer.train(kjv_text()[:200_000], vocab_size=300)
    tokenizer.tokenizer.model.save(str(directory))
    torch.manual_seed(0)
    config = GPT2Config(
        vocab_size=300, n_positions=64, n_embd=32, n_layer=2, n_head=2, bos_token_id=0,
        eos_token_id=0,
    )  # fmt: skip
    GPT2LMHeadModel(config).save_pretrained(str(directory))
    return str(directory)


# Configs whose argument is more than "smoke": (smoke argument, full argument) from fixtures.
CONFIG_ARGUMENTS = {
    "gpt2_finetune_kjv.py": lambda request: (
        f"smoke,{request.getfixturevalue('hf_gpt2_dir')}",
        request.getfixturevalue("hf_gpt2_dir"),
    ),
    "probe_kjv.py": lambda request: ("smoke,elmo,section", "cbow,grammar"),
}


@pytest.fixture(scope="session")
def bert_vocab_dir(tmp_path_factory):
    """A directory holding a tiny WordPiece vocab.txt (300 ids) trained on 400 KJV verses, as a
    BERT pretraining workdir or a Hugging Face BERT folder holds one."""
    from jaxpretrain.data import WordPieceTokenizer, corpus

    directory = tmp_path_factory.mktemp("bert_vocab")
    texts = [verse.text for verse in corpus.kjv_verses()[:400]]
    WordPieceTokenizer.train(texts, vocab_size=300).save(str(directory))
    return str(directory)
