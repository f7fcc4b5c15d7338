"""scripts/compare.py's arms for a linear probe: the pretrained arm fine-tunes (method finetune),
"scratch" is the supervised classifier of a random-init frozen encoder, for sequences and images."""

import importlib.util
import os
import sys

from conftest import ROOT, load_config


def _compare_module():
    sys.path.insert(0, os.path.join(ROOT, "scripts"))  # compare.py imports embedding_table.
    name = "scripts_compare_probe"
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, "scripts", "compare.py"))
    module = sys.modules[name] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_probe_arms_keep_the_frozen_backbone():
    compare = _compare_module()
    for name in ("cpc_probe_mnist1d", "cpc_probe_digits"):  # Sequences and images alike.
        base = load_config(name)
        arms = dict(vary="total_steps", budget=10, seed=1, pretrain_dir="runs/cpc")
        pretrained = compare._downstream_config(base, **arms, pretrained=True)
        scratch = compare._downstream_config(base, **arms, pretrained=False)
        assert (pretrained.method, scratch.method) == ("finetune", "supervised")
        for config in (pretrained, scratch):
            assert config.optimizer.freeze == "backbone" and config.total_steps == 10
        assert pretrained.init_from == "runs/cpc" and scratch.init_from == ""


def test_label_budget_arms_share_the_pretraining_vocabulary():
    compare = _compare_module()
    base = load_config("finetune_bert_kjv", "smoke,section")
    arms = dict(vary="data.per_class", budget=20, seed=2, pretrain_dir="runs/bert")
    pretrained = compare._downstream_config(base, **arms, pretrained=True)
    scratch = compare._downstream_config(base, **arms, pretrained=False)
    assert (pretrained.method, scratch.method) == ("finetune", "supervised")
    assert pretrained.init_from == "runs/bert" and scratch.init_from == ""
    for config in (pretrained, scratch):
        assert config.data.per_class == 20 and config.seed == 2
        assert config.data.vocab == "runs/bert"  # Both read the text with the same ids.
        assert config.total_steps == base.total_steps  # A label budget keeps the schedule.
