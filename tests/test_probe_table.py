"""scripts/probe_table.py end to end on smoke configs: a co-training run, the CPC linear probe
inheriting its frozen encoder, the table; and the baseline rows' configs."""

import importlib.util
import os
import re
import sys

import jax
import numpy as np
import pytest
from conftest import ROOT, load_config

from jaxpretrain.train.checkpoint import restore_params
from jaxpretrain.train.metrics import read_metrics


def _probe_table_module():
    name = "scripts_probe_table"
    spec = importlib.util.spec_from_file_location(
        name, os.path.join(ROOT, "scripts", "probe_table.py")
    )
    module = sys.modules[name] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cotraining_probe_row_inherits_the_frozen_encoder(tmp_path):
    """One seed, the co-training row only (the baselines' configs are checked below)."""
    probe_table = _probe_table_module()
    markdown = probe_table.run(
        [os.path.join(ROOT, "configs", "cotraining_mnist1d.py")],
        os.path.join(ROOT, "configs", "cpc_probe_mnist1d.py"),
        [0],
        str(tmp_path),
        smoke=True,
        supervised_lr=3e-3,
        baselines=(),
    )
    lines = markdown.splitlines()
    assert lines[0] == "| encoder | probe eval/accuracy | seeds |" and len(lines) == 3
    assert re.fullmatch(r"\| cotraining \| \d\.\d{3} ± 0\.000 \| \d\.\d{3} \|", lines[2]), lines

    # The pretraining run logged the estimates; the probe's backbone is the co-training
    # encoder's ("encoder/backbone"), frozen, and its head learned from its zero init.
    logged = read_metrics(str(tmp_path / "cotraining_seed0"))[-1]
    for key in ("eval/entropy/marginal", "eval/entropy/conditional/dt4", "eval/mi/dt1"):
        assert np.isfinite(logged[key]), key
    pretrained = restore_params(str(tmp_path / "cotraining_seed0"))["encoder"]["backbone"]
    probe = restore_params(str(tmp_path / "probe_cotraining_seed0"))
    jax.tree.map(np.testing.assert_array_equal, probe["backbone"], pretrained)
    assert np.abs(probe["head"]["kernel"]).sum() > 0


def test_baseline_rows_are_the_random_init_probe_and_the_supervised_encoder():
    probe_table = _probe_table_module()
    probe = load_config("cpc_probe_mnist1d")
    configs = probe_table.probe_configs(
        probe, seed=2, pretrained={"cpc": "runs/cpc"}, supervised_lr=3e-3
    )
    assert list(configs) == ["cpc", "random-init", "supervised"]
    got = {n: (c.method, c.init_from, c.optimizer.freeze, c.seed) for n, c in configs.items()}
    assert got == {
        "cpc": ("finetune", "runs/cpc", "backbone", 2),
        "random-init": ("supervised", "", "backbone", 2),
        "supervised": ("supervised", "", "", 2),
    }
    assert configs["supervised"].optimizer.base_lr == 3e-3
    assert configs["cpc"].optimizer.base_lr == probe.optimizer.base_lr
    with pytest.raises(ValueError, match="unknown baselines"):
        probe_table.probe_configs(probe, seed=0, pretrained={}, supervised_lr=1.0, baselines=["x"])
