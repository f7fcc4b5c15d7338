"""Text generation: stop strings, end-of-text, best-of-n, few-shot prompts, loading errors."""

import jax
import numpy as np
import pytest

from jaxpretrain.data import Tokenizer
from jaxpretrain.evaluate import best_of, complete, few_shot_prompt, load_language_model
from jaxpretrain.evaluate.generation import _cut
from jaxpretrain.models import gpt2, init_gpt

TEXT = "".join(f"verse {i}: and the lamb said {i * 7}\nthe dove flew\n" for i in range(60))


@pytest.fixture(scope="module")
def setup():
    tokenizer = Tokenizer.train(TEXT, vocab_size=300)
    model = gpt2("gpt2-tiny", vocab_size=300)
    params = jax.tree.map(lambda p: p * 5, init_gpt(model, jax.random.key(0)))
    return model, params, tokenizer


def test_cut_at_the_first_stop_string(setup):
    _, _, tokenizer = setup
    ids = tokenizer.encode(" and the lamb said\nthe dove flew\nverse")
    log_probs = -np.arange(1, ids.size + 1, dtype=np.float32)
    got = _cut(tokenizer, ids, log_probs, ("\n", "dove"))
    assert got.text == " and the lamb said" and got.stop == "\n"
    # Kept: the fewest tokens whose text holds the stop, i.e. through the one with the newline.
    k = got.tokens.size
    assert "\n" in tokenizer.decode(ids[:k]) and "\n" not in tokenizer.decode(ids[: k - 1])
    np.testing.assert_allclose(got.mean_log_prob, log_probs[:k].mean())


def test_cut_at_end_of_text_and_at_max_length(setup):
    _, _, tokenizer = setup
    ids = np.concatenate([tokenizer.encode(" the dove"), [tokenizer.eot_id] * 3])
    log_probs = np.array([-1.0] * (ids.size - 2) + [0.0, 0.0], np.float32)
    got = _cut(tokenizer, ids, log_probs, ())
    assert got.text == " the dove" and got.stop == tokenizer.eot_token
    assert got.tokens.size == ids.size - 2  # Through the first end-of-text token.
    plain = _cut(tokenizer, ids[:2], log_probs[:2], ("\n",))
    assert plain.stop is None and plain.text == tokenizer.decode(ids[:2])


def test_complete_samples_stop_and_rank(setup):
    model, params, tokenizer = setup
    samples = complete(
        model, params, tokenizer, "verse 3:", max_new_tokens=40, num_samples=6, stop=("e",), seed=3
    )
    assert len(samples) == 6
    for sample in samples:
        assert "e" not in sample.text
        assert sample.stop in ("e", tokenizer.eot_token) or sample.tokens.size == 40
    assert len({s.text for s in samples}) > 1
    best = best_of(samples)
    assert best.mean_log_prob == max(s.mean_log_prob for s in samples)
    greedy = complete(model, params, tokenizer, "", max_new_tokens=10, temperature=0, num_samples=2)
    assert greedy[0].text == greedy[1].text  # Unconditional (from <|endoftext|>) and greedy.


def test_complete_many_prompts_gives_one_list_per_prompt(setup):
    """Greedy: each prompt's completions in the batch equal ``complete`` of that prompt alone."""
    model, params, tokenizer = setup
    prompts = ["verse 3:", "", "the dove flew\nverse 12: and the"]
    kw = dict(max_new_tokens=16, temperature=0, stop=("\n", "lamb"))
    batch = complete(model, params, tokenizer, prompts, num_samples=2, **kw)
    assert len(batch) == 3 and all(len(samples) == 2 for samples in batch)
    for prompt, samples in zip(prompts, batch):
        (alone,) = complete(model, params, tokenizer, prompt, **kw)
        for sample in samples:
            assert sample.text == alone.text and sample.stop == alone.stop
            np.testing.assert_array_equal(sample.tokens, alone.tokens)
            assert "\n" not in sample.text and "lamb" not in sample.text
    sampled = complete(
        model, params, tokenizer, prompts[:2], max_new_tokens=16, num_samples=3, stop=("e",), seed=1
    )
    assert [len(samples) for samples in sampled] == [3, 3]
    assert all("e" not in s.text for samples in sampled for s in samples)


def test_complete_rejects_bad_prompt_lists(setup):
    model, params, tokenizer = setup
    with pytest.raises(ValueError, match="non-empty sequence of them"):
        complete(model, params, tokenizer, [])
    with pytest.raises(ValueError, match="for token ids call generate"):
        complete(model, params, tokenizer, [[3, 4]])
    with pytest.raises(ValueError, match=r"prompts\[1\] has \d+ tokens but the model's context"):
        complete(model, params, tokenizer, ["the", TEXT[:2000]])


def test_tokenizer_larger_than_the_model_is_an_error(setup):
    _, _, tokenizer = setup
    model = gpt2("gpt2-tiny")  # V = 101 < 300.
    with pytest.raises(ValueError, match="tokenizer has 300 ids but the model only 101"):
        complete(model, init_gpt(model, jax.random.key(0)), tokenizer, "the")


def test_few_shot_prompt_is_the_papers_format():
    prompt = few_shot_prompt([("le chat", "the cat"), ("le chien", "the dog")], "la maison")
    assert prompt == "le chat = the cat\nle chien = the dog\nla maison ="
    with pytest.raises(ValueError, match="contains the separator"):
        few_shot_prompt([("a = b", "c")], "d")
    with pytest.raises(ValueError, match="non-empty query"):
        few_shot_prompt([("a", "b")], "")


def test_loading_a_non_gpt2_workdir_fails_clearly(tmp_path):
    with pytest.raises(FileNotFoundError, match="holds no config.json"):
        load_language_model(str(tmp_path))
    (tmp_path / "config.json").write_text('{"method": "supervised"}')
    with pytest.raises(ValueError, match="sampling needs a gpt2 run"):
        load_language_model(str(tmp_path))
