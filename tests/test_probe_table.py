"""scripts/probe_table.py end to end on smoke configs: a co-training run, the CPC linear probe
inheriting its frozen encoder, the random-init and supervised rows, and the table."""

import importlib.util
import os
import re
import sys

import jax
import numpy as np
from conftest import ROOT

from jaxpretrain.train.checkpoint import restore_params


def _probe_table_module():
    name = "scripts_probe_table"
    spec = importlib.util.spec_from_file_location(
        name, os.path.join(ROOT, "scripts", "probe_table.py")
    )
    module = sys.modules[name] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cotraining_probe_table_and_the_inherited_frozen_encoder(tmp_path):
    probe_table = _probe_table_module()
    markdown = probe_table.run(
        [os.path.join(ROOT, "configs", "cotraining_mnist1d.py")],
        os.path.join(ROOT, "configs", "cpc_probe_mnist1d.py"),
        [0],
        str(tmp_path),
        smoke=True,
        supervised_lr=3e-3,
    )
    lines = markdown.splitlines()
    assert lines[0] == "| encoder | probe eval/accuracy | seeds |"
    for name, line in zip(("cotraining", "random-init", "supervised"), lines[2:], strict=True):
        assert re.fullmatch(rf"\| {name} \| \d\.\d{{3}} ± 0\.000 \| \d\.\d{{3}} \|", line), line

    # The probe's backbone is the co-training encoder's ("encoder/backbone"), frozen; the head
    # learned from its zero init. The random-init row's backbone is not the pretrained one.
    pretrained = restore_params(str(tmp_path / "cotraining_seed0"))["encoder"]["backbone"]
    probe = restore_params(str(tmp_path / "probe_cotraining_seed0"))
    jax.tree.map(np.testing.assert_array_equal, probe["backbone"], pretrained)
    assert np.abs(probe["head"]["kernel"]).sum() > 0
    random_init = restore_params(str(tmp_path / "probe_random-init_seed0"))["backbone"]
    assert not np.array_equal(random_init["conv0"]["kernel"], pretrained["conv0"]["kernel"])
