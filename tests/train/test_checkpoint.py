"""Tests for jaxpretrain.train.checkpoint: save/restore/keep, and loading a pretrained subtree."""

import gc
import os
import re

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxpretrain.train.checkpoint import (
    CheckpointError,
    checkpoint_dir,
    load_pretrained,
    restore_params,
)
from jaxpretrain.train.checkpointer import Checkpointer
from jaxpretrain.train.state import TrainState


def _params(seed=0, *, head_classes=3, root="backbone"):
    """A tiny classifier: {root: {conv: {kernel, bias}, norm: {scale}}, head: {kernel, bias}}."""
    k = jax.random.split(jax.random.PRNGKey(seed), 5)
    return {
        root: {
            "conv": {
                "kernel": jax.random.normal(k[0], (3, 3, 2, 4)),
                "bias": jax.random.normal(k[1], (4,)),
            },
            "norm": {"scale": jax.random.normal(k[2], (4,))},
        },
        "head": {
            "kernel": jax.random.normal(k[3], (4, head_classes)),
            "bias": jax.random.normal(k[4], (head_classes,)),
        },
    }


TX = optax.chain(optax.clip_by_global_norm(1.0), optax.adamw(1e-2, weight_decay=0.1))


def _state(params, *, step=0, seed=0):
    return TrainState(
        step=jnp.asarray(step, jnp.int32),
        params=params,
        opt_state=TX.init(params),
        rng=jax.random.PRNGKey(seed),
        nonfinite=jnp.zeros((), jnp.int32),
    )


def _trained_state(step=7):
    """A state with non-zero optimizer moments, so that restoring opt_state means something."""
    params = _params(seed=1)
    opt_state = TX.init(params)
    grads = jax.tree.map(jnp.ones_like, params)
    for _ in range(2):
        updates, opt_state = TX.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
    return TrainState(
        step=jnp.asarray(step, jnp.int32),
        params=params,
        opt_state=opt_state,
        rng=jax.random.PRNGKey(42),
        nonfinite=jnp.zeros((), jnp.int32),
    )


def _save(workdir, states, keep=3):
    checkpointer = Checkpointer(str(workdir), keep=keep)
    for state in states:
        checkpointer.save(state)
    checkpointer.wait()
    checkpointer.close()


def _pretrain_dir(tmp_path, params, step=5):
    """A workdir holding one checkpoint of ``params``, written by Checkpointer."""
    workdir = tmp_path / "pretrain"
    _save(workdir, [_state(params, step=step)])
    return str(workdir)


def _steps(workdir):
    return sorted(int(p) for p in os.listdir(checkpoint_dir(str(workdir))) if p.isdigit())


# ---- Checkpointer --------------------------------------------------------------------------


def test_save_restore_round_trip(tmp_path):
    saved = _trained_state(step=7)
    _save(tmp_path, [saved])

    fresh = _state(_params(seed=9), step=0, seed=0)
    checkpointer = Checkpointer(str(tmp_path), keep=3)
    assert checkpointer.latest_step() == 7
    restored = checkpointer.restore(fresh)
    checkpointer.close()

    assert int(restored.step) == 7
    np.testing.assert_array_equal(restored.rng, jax.random.PRNGKey(42))
    chex.assert_trees_all_equal(restored.params, saved.params)
    chex.assert_trees_all_equal(restored.opt_state, saved.opt_state)
    chex.assert_trees_all_equal_structs(restored.opt_state, fresh.opt_state)  # Namedtuples kept.
    adam = restored.opt_state[1][0]
    assert isinstance(adam, optax.ScaleByAdamState) and int(adam.count) == 2
    # The fresh target really differed, so the equality above is the restore's doing.
    assert not np.allclose(fresh.params["head"]["kernel"], saved.params["head"]["kernel"])
    assert not np.any(fresh.opt_state[1][0].mu["head"]["kernel"])


def test_keep_only_newest(tmp_path):
    params = _params()
    _save(tmp_path, [_state(params, step=s) for s in (1, 2, 3, 4, 5)], keep=2)
    assert _steps(tmp_path) == [4, 5]
    checkpointer = Checkpointer(str(tmp_path), keep=2)
    assert checkpointer.latest_step() == 5
    assert int(checkpointer.restore(_state(params)).step) == 5
    checkpointer.close()


def test_fresh_workdir_has_no_step(tmp_path):
    checkpointer = Checkpointer(str(tmp_path), keep=3)
    assert checkpointer.latest_step() is None
    with pytest.raises(CheckpointError):
        checkpointer.restore(_state(_params()))
    checkpointer.close()


# Orbax leaves the reads of the other arrays as unawaited coroutines; collect them here.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_restore_into_a_different_model_raises(tmp_path):
    _save(tmp_path, [_state(_params(), step=3)])
    checkpointer = Checkpointer(str(tmp_path), keep=3)
    with pytest.raises(CheckpointError, match="checkpoint 3"):
        checkpointer.restore(_state(_params(head_classes=5)))
    checkpointer.close()
    gc.collect()


# ---- load_pretrained -----------------------------------------------------------------------


def test_load_pretrained_takes_backbone_keeps_head(tmp_path):
    pretrained = _params(seed=1)
    path = _pretrain_dir(tmp_path, pretrained)
    fresh = _params(seed=2)
    # The workdir, its checkpoints/ dir and the step dir all work.
    for where in (path, os.path.join(path, "checkpoints"), os.path.join(path, "checkpoints", "5")):
        merged = load_pretrained(fresh, where)
        chex.assert_trees_all_equal(merged["backbone"], jax.device_get(pretrained["backbone"]))
        chex.assert_trees_all_equal(merged["head"], fresh["head"])
        chex.assert_trees_all_equal_structs(merged, fresh)
    assert not np.allclose(
        pretrained["backbone"]["conv"]["kernel"], fresh["backbone"]["conv"]["kernel"]
    )
    # init_params is not modified in place.
    chex.assert_trees_all_equal(fresh, _params(seed=2))


def test_load_pretrained_uses_latest_step(tmp_path):
    workdir = tmp_path / "pretrain"
    _save(workdir, [_state(_params(seed=1), step=1), _state(_params(seed=3), step=2)])
    merged = load_pretrained(_params(seed=2), str(workdir))
    chex.assert_trees_all_equal(merged["backbone"], jax.device_get(_params(seed=3)["backbone"]))


def test_load_pretrained_casts_to_the_model_dtype(tmp_path):
    path = _pretrain_dir(tmp_path, _params(seed=1))
    fresh = jax.tree.map(lambda x: x.astype(jnp.bfloat16), _params(seed=2))
    merged = load_pretrained(fresh, path)
    assert all(x.dtype == jnp.bfloat16 for x in jax.tree.leaves(merged))


def test_dont_load_keeps_listed_paths(tmp_path):
    pretrained = _params(seed=1)
    path = _pretrain_dir(tmp_path, pretrained)
    fresh = _params(seed=2)
    merged = load_pretrained(fresh, path, dont_load=["conv/bias", "norm"])
    got, new, old = merged["backbone"], fresh["backbone"], pretrained["backbone"]
    np.testing.assert_array_equal(got["conv"]["kernel"], old["conv"]["kernel"])
    np.testing.assert_array_equal(got["conv"]["bias"], new["conv"]["bias"])
    np.testing.assert_array_equal(got["norm"]["scale"], new["norm"]["scale"])


def test_dont_load_matches_whole_path_components(tmp_path):
    pretrained = {
        "backbone": {"conv": {"kernel": jnp.ones((2, 2))}, "conv2": {"kernel": jnp.ones((2, 2))}}
    }
    path = _pretrain_dir(tmp_path, pretrained)
    fresh = jax.tree.map(jnp.zeros_like, pretrained)
    merged = load_pretrained(fresh, path, dont_load=["conv"])
    np.testing.assert_array_equal(merged["backbone"]["conv"]["kernel"], 0.0)
    np.testing.assert_array_equal(merged["backbone"]["conv2"]["kernel"], 1.0)


def test_dont_load_allows_a_resized_head(tmp_path):
    """The whole tree (subtree="") with a head of another size listed in dont_load."""
    pretrained = _params(seed=1, head_classes=3)
    path = _pretrain_dir(tmp_path, pretrained)
    fresh = _params(seed=2, head_classes=10)
    with pytest.raises(CheckpointError, match="head/kernel"):
        load_pretrained(fresh, path, subtree="")
    merged = load_pretrained(fresh, path, subtree="", dont_load=["head"])
    chex.assert_trees_all_equal(merged["head"], fresh["head"])
    chex.assert_trees_all_equal(merged["backbone"], jax.device_get(pretrained["backbone"]))


def test_every_mismatch_is_listed_in_one_error(tmp_path):
    pretrained = _params(seed=1)
    pretrained["backbone"]["extra"] = {"kernel": jnp.ones((2, 2))}  # Unexpected in the model.
    path = _pretrain_dir(tmp_path, pretrained)
    model = _params(seed=2)
    model["backbone"]["conv"]["kernel"] = jnp.ones((3, 3, 2, 8))  # Wrong shape.
    model["backbone"]["norm"]["bias"] = jnp.zeros((4,))  # Missing in the checkpoint.
    model["backbone"]["proj"] = {"kernel": jnp.ones((4, 4))}  # Missing in the checkpoint.
    with pytest.raises(CheckpointError) as info:
        load_pretrained(model, path)
    message = str(info.value)
    for mismatched in (
        "backbone/conv/kernel",
        "backbone/norm/bias",
        "backbone/proj/kernel",
        "backbone/extra/kernel",
    ):
        assert mismatched in message, mismatched
    assert "4 mismatches" in message
    assert "(3, 3, 2, 8)" in message and "(3, 3, 2, 4)" in message  # Both shapes of the bad kernel.
    for fine in ("conv/bias", "norm/scale"):
        assert f"backbone/{fine}" not in message


def test_a_checkpoint_of_another_architecture_is_one_line(tmp_path):
    """No parameter path in common (a BERT run given to an ELMo probe): one line naming it."""
    path = _pretrain_dir(tmp_path, {"backbone": {"embeddings": {"word": jnp.ones((5, 2))}}})
    with pytest.raises(CheckpointError, match="another architecture") as info:
        load_pretrained(_params(seed=2), path)
    assert "\n" not in str(info.value) and "embeddings/word" in str(info.value)


def test_source_subtree_fills_a_differently_named_target(tmp_path):
    pretrained = _params(seed=1, root="encoder")
    path = _pretrain_dir(tmp_path, pretrained)
    fresh = _params(seed=2)
    with pytest.raises(CheckpointError, match="backbone"):  # The default looks for "backbone".
        load_pretrained(fresh, path)
    merged = load_pretrained(fresh, path, source_subtree="encoder")
    chex.assert_trees_all_equal(merged["backbone"], jax.device_get(pretrained["encoder"]))
    chex.assert_trees_all_equal(merged["head"], fresh["head"])
    assert set(merged) == {"backbone", "head"}


def test_nested_subtree(tmp_path):
    pretrained = _params(seed=1)
    path = _pretrain_dir(tmp_path, pretrained)
    fresh = _params(seed=2)
    merged = load_pretrained(fresh, path, subtree="backbone/conv")
    chex.assert_trees_all_equal(
        merged["backbone"]["conv"], jax.device_get(pretrained["backbone"]["conv"])
    )
    chex.assert_trees_all_equal(merged["backbone"]["norm"], fresh["backbone"]["norm"])
    chex.assert_trees_all_equal(merged["head"], fresh["head"])


def test_missing_path_raises(tmp_path):
    missing = str(tmp_path / "no_such_run")
    with pytest.raises(CheckpointError, match="no_such_run"):
        load_pretrained(_params(), missing)


def test_directory_without_a_finished_checkpoint_raises(tmp_path):
    workdir = tmp_path / "run"
    # An interrupted save leaves only Orbax's temporary directory behind.
    (workdir / "checkpoints" / "3.orbax-checkpoint-tmp-123" / "params").mkdir(parents=True)
    with pytest.raises(CheckpointError, match="no finished checkpoint"):
        load_pretrained(_params(), str(workdir))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(CheckpointError, match="empty"):
        load_pretrained(_params(), str(empty))


@pytest.mark.parametrize("damage", ["delete", "overwrite"])
def test_corrupt_checkpoint_raises_naming_the_step(tmp_path, damage):
    path = _pretrain_dir(tmp_path, _params(seed=1), step=5)
    step_dir = os.path.join(path, "checkpoints", "5")
    for root, _, files in os.walk(os.path.join(step_dir, "params")):
        for name in files:
            file = os.path.join(root, name)
            if damage == "delete":
                os.remove(file)
            else:
                with open(file, "wb") as f:
                    f.write(b"not a checkpoint")
    with pytest.raises(CheckpointError) as info:
        restore_params(path)
    assert step_dir in str(info.value)
    with pytest.raises(CheckpointError, match=re.escape(step_dir)):
        load_pretrained(_params(), path)
