"""Fine-tuning Hugging Face GPT-2 weights (init_from=hf:<dir>) and sampling from the result."""

import json
import os

import jax
import numpy as np
import pytest
from conftest import load_config, run_script, train_command

from jaxpretrain import parallel
from jaxpretrain.interop import load_hf_gpt2
from jaxpretrain.train.checkpoint import CheckpointError
from jaxpretrain.train.experiment import build_experiment


@pytest.fixture(scope="module")
def hf_dir(hf_gpt2_dir):
    return hf_gpt2_dir


def test_init_from_hf_starts_from_the_imported_weights(hf_dir):
    config = load_config("gpt2_finetune_kjv", f"smoke,{hf_dir}")
    assert config.data.vocab_size == 300 and config.model.max_length == 64
    experiment = build_experiment(config, parallel.make_mesh(), init_from=config.init_from)
    _, imported = load_hf_gpt2(hf_dir)
    got = jax.tree.map(np.asarray, experiment.state.params)
    jax.tree.map(np.testing.assert_array_equal, got, jax.tree.map(np.asarray, imported))


def test_init_from_hf_that_does_not_fit_lists_the_mismatches(hf_dir):
    config = load_config("gpt2_finetune_kjv", f"smoke,{hf_dir}")
    config.model.width = 64
    with pytest.raises(
        CheckpointError, match=r"(?s)does not fit the model .*wte/embedding: model \(300, 64\)"
    ):
        build_experiment(config, parallel.make_mesh(), init_from=config.init_from)


def test_bad_config_argument_names_the_fix():
    with pytest.raises(ValueError, match="give a Hugging Face GPT-2 directory"):
        load_config("gpt2_finetune_kjv", "smoke")
    with pytest.raises(FileNotFoundError, match="must be a Hugging Face GPT-2 directory"):
        load_config("gpt2_finetune_kjv", "/nonexistent")


@pytest.mark.slow
def test_fine_tune_then_sample_from_the_workdir_and_from_hf(hf_dir, tmp_path):
    workdir = str(tmp_path / "ft")
    run_script(
        train_command(workdir, config="gpt2_finetune_kjv", arg=f"smoke,{hf_dir}"), timeout=600
    )
    assert os.path.exists(os.path.join(workdir, "tokenizer.json"))
    # One prompt from the workdir; two prompts, decoded in one batch, from the HF directory.
    for model, prompts in ((workdir, ["And God said"]), (f"hf:{hf_dir}", ["And God", "In the"])):
        out = tmp_path / "samples.json"
        command = [
            "sample.py",
            f"--model={model}",
            *(f"--prompt={prompt}" for prompt in prompts),
            "--num_samples=3",
            "--max_new_tokens=12",
            "--top_k=20",
            "--stop=\\n",
            f"--json={out}",
        ]
        sample = run_script(command, timeout=300)
        assert sample.stdout.count("--- sample") == 3 * len(prompts)
        assert all(f"prompt: {prompt!r}" in sample.stdout for prompt in prompts)
        written = json.loads(out.read_text())
        per_prompt = written["prompts"] if len(prompts) > 1 else [written]
        assert [entry["prompt"] for entry in per_prompt] == prompts
        rows = [row for entry in per_prompt for row in entry["samples"]]
        assert len(rows) == 3 * len(prompts)
        assert all("\n" not in row["text"] and 0 < row["tokens"] <= 12 for row in rows)
