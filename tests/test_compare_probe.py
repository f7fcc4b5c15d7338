"""scripts/compare.py's arms for a linear probe: the pretrained arm fine-tunes (method finetune),
"scratch" is the supervised classifier of a random-init frozen encoder, for sequences and images."""

import importlib.util
import os
import sys

from conftest import ROOT, load_config


def _compare_module():
    name = "scripts_compare_probe"
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, "scripts", "compare.py"))
    module = sys.modules[name] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_probe_arms_keep_the_frozen_backbone():
    compare = _compare_module()
    for name in ("cpc_probe_mnist1d", "cpc_probe_digits"):  # Sequences and images alike.
        base = load_config(name)
        pretrained = compare._downstream_config(base, budget=10, seed=1, pretrained="runs/cpc")
        scratch = compare._downstream_config(base, budget=10, seed=1, pretrained=None)
        assert (pretrained.method, scratch.method) == ("finetune", "supervised")
        for config in (pretrained, scratch):
            assert config.optimizer.freeze == "backbone" and config.total_steps == 10
        assert pretrained.init_from == "runs/cpc" and scratch.init_from == ""
