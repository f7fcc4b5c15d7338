"""Which config changes a resume accepts: the attention implementation computes the same heads
(a run started with einsum on the CPU resumes with cuDNN on a GPU); the model's sizes do not."""

import json

import pytest
from conftest import load_config

from jaxpretrain.errors import ConfigError
from jaxpretrain.train.resume_config import check_resume


def _saved(config) -> dict:
    return json.loads(config.to_json_best_effort())


def test_another_attention_implementation_resumes_and_is_logged(capsys):
    config = load_config("gpt2_kjv")
    saved = _saved(config)
    config.model.attention = "einsum" if config.model.attention != "einsum" else "blocked"
    check_resume(saved, config, "/runs/gpt")
    assert f"model.attention: {saved['model']['attention']!r} -> " in capsys.readouterr().err


def test_a_changed_model_size_beside_it_is_the_only_key_named():
    config = load_config("gpt2_kjv")
    saved = _saved(config)
    config.model.attention = "xla"
    config.model.width *= 2
    with pytest.raises(ConfigError, match="in 1 key that changes the parameters") as error:
        check_resume(saved, config, "/runs/gpt")
    assert "model.width" in str(error.value) and "model.attention:" not in str(error.value)
