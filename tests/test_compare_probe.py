"""scripts/compare.py's arms for a downstream method other than the image classifier: the CPC
sequence probe keeps its method, and "scratch" is the probe of a random-init frozen encoder."""

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


def test_probe_arms_keep_the_method_and_the_frozen_backbone():
    compare = _compare_module()
    base = load_config("cpc_probe_mnist1d")
    pretrained = compare._downstream_config(base, budget=10, seed=1, pretrained="runs/cpc")
    scratch = compare._downstream_config(base, budget=10, seed=1, pretrained=None)
    for config in (pretrained, scratch):
        assert config.method == "sequence_classifier"
        assert config.optimizer.freeze == "backbone" and config.total_steps == 10
    assert pretrained.init_from == "runs/cpc" and scratch.init_from == ""
    image = load_config("cpc_probe_digits")  # The image probe still swaps finetune/supervised.
    assert compare._downstream_config(image, budget=10, seed=0, pretrained=None).method == (
        "supervised"
    )
