"""jaxpretrain.data.lm: a held-out tail, a tokenizer that never saw it, windows, one tokenization."""

import numpy as np
import pytest

from jaxpretrain.data import build_source, data_tokenizer
from jaxpretrain.data.lm import lm_sources


@pytest.fixture
def data_config(tmp_path):
    lines = [
        f"verse {i}: and the {['lamb', 'lion', 'dove'][i % 3]} said {i * 7}" for i in range(400)
    ]
    lines[-1] = "zqxj unseen tail words zqxj"
    (tmp_path / "a.txt").write_text("\n".join(lines) + "\n")
    return dict(
        name="text", corpus=f"files:{tmp_path}/*.txt", vocab_size=300, context=16, eval_fraction=0.1
    )


def test_train_and_eval_are_head_and_tail(data_config):
    sources = lm_sources(data_config)
    decode = sources.tokenizer.decode
    train_text = decode(sources.train.tokens)
    eval_text = decode(sources.eval.tokens)
    assert train_text.startswith("verse 0:") and "zqxj" not in train_text
    assert eval_text.endswith("zqxj unseen tail words zqxj\n")
    assert train_text.endswith("\n"), "the split falls on a line break"
    assert 0.05 < len(eval_text) / (len(train_text) + len(eval_text)) < 0.15
    assert sources.tokenizer.vocab_size == 300
    item = sources.eval[1]["tokens"]
    assert item.shape == (17,) and item.dtype == np.int32
    np.testing.assert_array_equal(item, sources.eval.tokens[16:33])  # Non-overlapping windows.
    assert 1.0 < sources.eval_bytes_per_token < 8.0


def test_build_source_tokenizes_once(data_config):
    train = build_source(data_config, "train")
    assert build_source(data_config, "train") is train
    assert build_source(data_config, "eval") is lm_sources(data_config).eval


def test_tokenizer_is_deterministic(data_config):
    a = data_tokenizer(data_config)
    assert a is lm_sources(data_config).tokenizer
    b = lm_sources({**data_config, "context": 8}).tokenizer  # Another cache entry, retrained.
    assert a is not b and a.tokenizer.to_str() == b.tokenizer.to_str()


def test_a_saved_tokenizer_is_used_instead_of_training(data_config, tmp_path):
    trained = lm_sources(data_config)
    gpt2_dir = tmp_path / "gpt2"  # Not beside the corpus: merges.txt would match its *.txt.
    gpt2_dir.mkdir()
    trained.tokenizer.tokenizer.model.save(str(gpt2_dir))  # GPT-2's vocab.json + merges.txt.
    loaded = lm_sources({**data_config, "tokenizer": str(gpt2_dir)})
    assert loaded.tokenizer is not trained.tokenizer
    np.testing.assert_array_equal(loaded.eval.tokens, trained.eval.tokens)
    with pytest.raises(ValueError, match="set data.vocab_size=300"):
        lm_sources({**data_config, "tokenizer": str(gpt2_dir), "vocab_size": 512})


@pytest.mark.parametrize(
    "field, value, match",
    [
        ("vocab_size", 100, "vocab_size must exceed 256"),
        ("context", 0, "context must be a positive"),
        ("eval_fraction", 1.5, "eval_fraction must be in"),
        ("corpus", "nope", "Unknown corpus"),
    ],
)
def test_bad_fields_fail_clearly(data_config, field, value, match):
    with pytest.raises(ValueError, match=match):
        lm_sources({**data_config, field: value})
