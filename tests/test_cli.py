"""The command line and the config files: errors that name the culprit, shared keys, docstrings."""

import ast
import os
import sys

import pytest
from conftest import (
    CONFIG_ARGUMENTS,
    CONFIGS,
    ROOT,
    copy_run,
    damage_checkpoint,
    load_config,
    run_script,
    subprocess_env,
)

from jaxpretrain import config as config_lib
from jaxpretrain.data import load_dataset
from jaxpretrain.methods import get_method

SHARED_KEYS = (
    "seed",
    "total_steps",
    "batch_size",
    "log_every",
    "eval_every",
    "checkpoint_every",
    "keep_checkpoints",
    "init_from",
)


def _train_script(tmp_path, *args):
    return run_script(["train.py", f"--workdir={tmp_path / 'run'}", *args], check=False)


@pytest.mark.parametrize(
    "override, key",
    [
        ("--config.no_such_key=1", "no_such_key"),
        ("--config.optimizer.no_such_key=1", "no_such_key"),
        ("--config.batch_size=abc", "batch_size"),
    ],
)
def test_bad_override_exits_nonzero_naming_the_key(tmp_path, override, key):
    result = _train_script(tmp_path, "--config=configs/supervised_digits.py:smoke", override)
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if key in line]
    assert lines, f"stderr does not name {key!r}:\n{result.stderr}"
    assert not (tmp_path / "run").exists(), "the run started despite the bad override"


def test_bad_config_argument_exits_nonzero_naming_it(tmp_path):
    result = _train_script(tmp_path, "--config=configs/supervised_digits.py:bogus")
    assert result.returncode != 0
    assert any("bogus" in line for line in result.stderr.splitlines()), result.stderr
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("filename", CONFIGS)
def test_config_builds_with_smoke(filename, request):
    smoke, full = CONFIG_ARGUMENTS.get(filename, lambda _: ("smoke", None))(request)
    config = load_config(filename[:-3], smoke)
    for key in SHARED_KEYS:
        assert key in config, f"{filename} lacks the shared key {key!r}"
    assert config.batch_size % 8 == 0, f"{filename}: smoke batch_size {config.batch_size} % 8 != 0"
    config_lib.validate(config, num_devices=8)
    # Model construction is lazy and cheap; word vectors and ELMo need their (offline) vocabulary.
    dataset = load_dataset(config.data) if config.data.name in ("words", "sentences") else None
    get_method(config.method).make_model(config, dataset)
    # Every config is also a valid full-size config.
    full = load_config(filename[:-3], full)
    config_lib.validate(full, num_devices=1)
    assert set(full.keys()) == set(config.keys()), "smoke must shrink fields, not add or drop them"


@pytest.mark.parametrize("filename", CONFIGS)
def test_config_docstring_holds_the_command(filename):
    with open(os.path.join(ROOT, "configs", filename)) as f:
        docstring = ast.get_docstring(ast.parse(f.read()))
    assert docstring and "python scripts/train.py" in docstring, filename
    assert f"configs/{filename}" in docstring, f"{filename}'s docstring runs another config"


# ---- Errors we raise on purpose: one line on stderr, no traceback, no Orbax noise ------------


@pytest.mark.parametrize(
    "case, expected",
    [
        ("negative batch", "error: config.batch_size must be positive"),
        ("changed model", "error: the config differs from the one"),
        ("no intact checkpoint", "error: no checkpoint in"),
        ("sampling a supervised run", "error: "),
    ],
)
def test_errors_we_raise_are_one_line_without_traceback(
    finished_smoke_run, tmp_path, case, expected
):
    config = f"--config={os.path.join(ROOT, 'configs', 'supervised_digits.py')}:smoke"
    if case == "sampling a supervised run":
        script = "sample.py"
        args = [f"--model={finished_smoke_run}", "--prompt=In the beginning"]
    else:
        script = "train.py"
        workdir = copy_run(finished_smoke_run, tmp_path)
        if case == "no intact checkpoint":
            for step in (3, 6):
                damage_checkpoint(workdir, step, "overwrite")
        override = {
            "negative batch": ["--config.batch_size=-3"],
            "changed model": ["--config.model.width=16"],
        }
        args = [config, f"--workdir={workdir}", *override.get(case, [])]
    result = run_script([script, *args], check=False)
    assert result.returncode == 1, result.stderr[-3000:]
    # Warnings on the way (a corrupt checkpoint moved aside) may come first, one line each.
    lines = result.stderr.splitlines()
    errors = [i for i, line in enumerate(lines) if line.startswith("error: ")]
    assert len(errors) == 1 and lines[errors[0]].startswith(expected), result.stderr[-3000:]
    assert all(line.startswith("warning: ") for line in lines[: errors[0]]), result.stderr[-3000:]
    for noise in ("Traceback", "Event loop is closed", "meta_path", "ERROR:absl"):
        assert noise not in result.stderr, result.stderr[-3000:]


def test_scripts_keep_compiled_steps_in_the_compilation_cache(tmp_path):
    """By default a script keeps its compiled programs in $XDG_CACHE_HOME/jaxpretrain/jax, also
    when a process with JAX's default cache settings shares the directory; a rerun reads them
    back (it writes no new entry); --compilation_cache='' keeps nothing."""
    config = f"--config={os.path.join(ROOT, 'configs', 'supervised_digits.py')}:smoke"
    env = subprocess_env(1)
    env.pop("JAX_COMPILATION_CACHE_DIR", None)  # The tests' shared cache would win.
    cache = tmp_path / "home" / "jaxpretrain" / "jax"

    def dry_run(cache_home, *flags) -> str:
        result = run_script(
            ["train.py", config, "--dry_run", f"--workdir={tmp_path / 'run'}", *flags],
            env=dict(env, XDG_CACHE_HOME=str(cache_home)),
        )
        return result.stderr

    shared = (  # A user's own JAX code, caching in the same directory with JAX's defaults.
        "import jax; jax.config.update('jax_persistent_cache_min_compile_time_secs', 0);"
        f" jax.config.update('jax_compilation_cache_dir', {str(cache)!r});"
        " jax.jit(lambda x: x @ x)(jax.numpy.ones((8, 8))).block_until_ready()"
    )
    run_script([sys.executable, "-c", shared], env=env)
    theirs = set(os.listdir(cache))
    assert theirs
    stderr = dry_run(tmp_path / "home")
    first = set(os.listdir(cache))
    written = [name for name in first - theirs if (cache / name).stat().st_size > 1000]
    assert written, "the compiled step was not written to the cache"
    assert "Error writing persistent compilation cache entry" not in stderr, stderr[-3000:]
    dry_run(tmp_path / "home")
    assert set(os.listdir(cache)) == first  # Read back, not compiled and written again.
    dry_run(tmp_path / "off", "--compilation_cache=")
    assert not os.path.exists(tmp_path / "off")


def test_smoke_shortens_every_players_warm_up_to_at_most_one_step():
    full, smoke = load_config("rda_digits", None), load_config("rda_digits")
    assert full.optimizers.discriminator.warmup_steps == 50
    assert smoke.optimizers.discriminator.warmup_steps == 1 == smoke.optimizer.warmup_steps
    cotraining = load_config("cotraining_mnist1d")  # Its entropy models have no warm-up.
    assert [o.warmup_steps for o in cotraining.optimizers.values()] == [0, 0]
