"""train/pretrained.py, the one reader of "hf:<dir>" / workdir strings, and ENCODER's role."""

import json
import types

import pytest

from jaxpretrain import methods
from jaxpretrain.errors import CheckpointError
from jaxpretrain.train import pretrained


def test_parse_tells_runs_from_hugging_face_directories(tmp_path):
    assert pretrained.parse(str(tmp_path)) == pretrained.Source("run", str(tmp_path))
    assert pretrained.parse(f"hf:{tmp_path}") == pretrained.Source("hf", str(tmp_path))
    with pytest.raises(CheckpointError, match="'hf:/no/such' does not exist.*Hugging Face"):
        pretrained.parse("hf:/no/such")
    with pytest.raises(CheckpointError, match="'/no/such' does not exist.*pretraining workdir"):
        pretrained.parse("/no/such")


def test_a_method_without_encoder_cannot_be_inherited_from(tmp_path, monkeypatch):
    monkeypatch.setitem(methods.METHODS, "no_encoder", types.ModuleType("no_encoder"))
    assert pretrained.encoder_path("supervised") == "backbone"
    assert pretrained.encoder_path("gpt2") == ""
    with pytest.raises(ValueError, match="method 'no_encoder' names no ENCODER"):
        pretrained.encoder_path("no_encoder")
    (tmp_path / "config.json").write_text(json.dumps({"method": "no_encoder"}))
    with pytest.raises(ValueError, match="names no ENCODER"):  # Before any checkpoint is read.
        pretrained.init_params({}, str(tmp_path), method="finetune", subtree="backbone")


def test_methods_without_a_hugging_face_importer_say_so(tmp_path):
    with pytest.raises(ValueError, match="'supervised' has no Hugging Face importer"):
        pretrained.load_model(f"hf:{tmp_path}", "supervised", use="testing")
