"""The jitted sampler: filters against numpy, the sampled distribution, cache = no cache, many
prompts in one left-padded batch = each alone."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxpretrain.evaluate.generation import generate, generate_batch
from jaxpretrain.evaluate.sampling import Sampler, left_pad
from jaxpretrain.models import gpt2, init_gpt

PROMPT = np.array([5, 17, 42, 8], np.int32)
PROMPTS = [np.array([7, 3], np.int32), np.array([9, 1, 60, 23, 4, 77, 12], np.int32), PROMPT]


@pytest.fixture(scope="module")
def tiny():
    model = gpt2("gpt2-tiny")  # V = 101, 64 positions.
    # A larger init scale than GPT-2's 0.02, so next-token distributions are far from uniform.
    params = jax.tree.map(lambda p: p * 5, init_gpt(model, jax.random.key(0)))
    return model, params


def _full_logits(model, params, tokens):
    return np.asarray(jax.jit(lambda t: model.apply({"params": params}, t))(tokens))


def _numpy_top_k(logits, k):
    kth = np.sort(logits, axis=-1)[:, -k][:, None]
    return np.where(logits >= kth, logits, -np.inf)


def _numpy_top_p(logits, p):
    out = np.full_like(logits, -np.inf)
    for row, (values, o) in enumerate(zip(logits, out)):
        probs = np.exp(values - values.max())
        probs /= probs.sum()
        order = np.argsort(-probs)
        mass = 0.0
        for i in order:  # The most likely tokens until their mass reaches p.
            o[i] = values[i]
            mass += probs[i]
            if mass >= p:
                break
    return out


def test_top_k_and_temperature_match_numpy():
    logits = np.random.default_rng(0).normal(size=(4, 50)).astype(np.float32)
    got = np.asarray(Sampler(temperature=0.5, top_k=7).filter(jnp.asarray(logits)))
    np.testing.assert_allclose(got, _numpy_top_k(logits / 0.5, 7), rtol=1e-6)
    assert (np.isfinite(got).sum(axis=-1) == 7).all()


@pytest.mark.parametrize("p", [0.3, 0.7, 0.95])
def test_top_p_matches_numpy(p):
    logits = np.random.default_rng(1).normal(size=(4, 50)).astype(np.float32) * 2
    got = np.asarray(Sampler(top_p=p).filter(jnp.asarray(logits)))
    np.testing.assert_allclose(got, _numpy_top_p(logits, p), rtol=1e-6)


def test_top_p_keeps_the_smallest_set_reaching_p():
    logits = jnp.log(jnp.array([[0.5, 0.3, 0.15, 0.05]]))
    kept = lambda p: np.isfinite(Sampler(top_p=p).filter(logits))[0].tolist()  # noqa: E731
    assert kept(0.4) == [True, False, False, False]
    assert kept(0.8) == [True, True, False, False]
    assert kept(0.81) == [True, True, True, False]


@pytest.mark.parametrize("bad", [dict(temperature=-1.0), dict(top_k=-2), dict(top_p=0.0)])
def test_bad_sampler_settings_fail_clearly(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        Sampler(**bad)


def test_first_tokens_follow_the_filtered_softmax(tiny):
    """2,000 one-token samples: frequencies within 5 standard errors of softmax(top-k logits)."""
    model, params = tiny
    n, k = 2000, 5
    tokens, log_probs = generate(
        model, params, PROMPT, max_new_tokens=1, num_samples=n, sampler=Sampler(top_k=k)
    )
    logits = _full_logits(model, params, PROMPT[None])[0, -1]
    want = np.exp(_numpy_top_k(logits[None], k)[0] - logits.max())
    want /= want.sum()
    counts = np.bincount(tokens[:, 0], minlength=model.vocab_size) / n
    assert set(np.flatnonzero(counts)) <= set(np.flatnonzero(want))
    np.testing.assert_array_less(np.abs(counts - want), 5 * np.sqrt(want * (1 - want) / n) + 1e-9)
    # The recorded log-probs are the model's own (unfiltered, temperature 1).
    full = logits - np.log(np.exp(logits - logits.max()).sum()) - logits.max()
    np.testing.assert_allclose(log_probs[:, 0], full[tokens[:, 0]], rtol=1e-4, atol=1e-4)


def test_greedy_is_the_argmax_of_recomputed_logits(tiny):
    model, params = tiny
    tokens, log_probs = generate(
        model, params, PROMPT, max_new_tokens=12, sampler=Sampler(temperature=0)
    )
    sequence = np.concatenate([PROMPT, tokens[0]])[None]
    logits = _full_logits(model, params, sequence)[0, len(PROMPT) - 1 : -1]  # [12, V]
    np.testing.assert_array_equal(tokens[0], logits.argmax(-1))
    scores = jax.nn.log_softmax(logits)[np.arange(12), tokens[0]]
    np.testing.assert_allclose(log_probs[0], scores, rtol=1e-4, atol=1e-4)


def test_cache_chunking_and_seed(tiny):
    """The KV cache, the chunk size and the batch layout never change the samples."""
    model, params = tiny
    run = lambda **kw: generate(  # noqa: E731
        model, params, PROMPT, max_new_tokens=20, num_samples=3, sampler=Sampler(top_p=0.9), **kw
    )
    cached, cached_lp = run(seed=1)
    recomputed, recomputed_lp = run(seed=1, use_cache=False)
    one_at_a_time, _ = run(seed=1, chunk=1)
    np.testing.assert_array_equal(cached, recomputed)
    np.testing.assert_allclose(cached_lp, recomputed_lp, atol=1e-4)
    np.testing.assert_array_equal(cached, one_at_a_time)
    assert len({tuple(row) for row in cached}) > 1, "rows are independent samples"
    assert not np.array_equal(run(seed=2)[0], cached)


def test_rows_stop_at_the_end_token_and_generation_ends_early(tiny):
    model, params = tiny
    greedy, _ = generate(model, params, PROMPT, max_new_tokens=8, sampler=Sampler(temperature=0))
    end_id = int(greedy[0, 2])  # Make the third greedy token the end-of-text token.
    tokens, log_probs = generate(
        model,
        params,
        PROMPT,
        max_new_tokens=40,
        sampler=Sampler(temperature=0),
        end_id=end_id,
        chunk=4,
    )
    first = int(np.flatnonzero(tokens[0] == end_id)[0])
    assert first <= 2 and tokens.shape[1] == 4, "stopped after the first chunk"
    assert (tokens[0, first:] == end_id).all() and (log_probs[0, first + 1 :] == 0).all()


@pytest.mark.parametrize(
    "prompt, new, match",
    [
        (np.arange(64) % 101, 1, "the prompt has 64 tokens but the model's context is 64"),
        (np.array([3, 101]), 5, "prompt token id 101 .* outside the model's vocabulary"),
        (np.array([3, -1]), 5, "prompt token id -1"),
        (np.arange(60), 10, r"max_new_tokens=10 must be in \[1, 4\]"),
        (np.array([], np.int32), 5, "non-empty"),
    ],
)
def test_bad_prompts_fail_before_jit(tiny, prompt, new, match):
    model, params = tiny
    with pytest.raises(ValueError, match=match):
        generate(model, params, prompt, max_new_tokens=new)


def test_left_pad_puts_every_prompt_at_the_end():
    tokens, valid = left_pad(PROMPTS)
    assert tokens.shape == valid.shape == (3, 7) and tokens.dtype == np.int32
    for row, prompt in enumerate(PROMPTS):
        np.testing.assert_array_equal(tokens[row, 7 - prompt.size :], prompt)
        np.testing.assert_array_equal(valid[row], np.arange(7) >= 7 - prompt.size)


@pytest.mark.parametrize("use_cache", [True, False])
def test_greedy_batch_of_prompts_equals_each_prompt_alone(tiny, use_cache):
    model, params = tiny
    kw = dict(max_new_tokens=10, sampler=Sampler(temperature=0), use_cache=use_cache)
    tokens, log_probs = generate_batch(model, params, PROMPTS, num_samples=2, **kw)
    assert tokens.shape == log_probs.shape == (3, 2, 10)
    for prompt, rows, lps in zip(PROMPTS, tokens, log_probs):
        alone, alone_lp = generate(model, params, prompt, **kw)  # [1, 10]
        np.testing.assert_array_equal(rows, np.repeat(alone, 2, axis=0))
        np.testing.assert_allclose(lps, np.repeat(alone_lp, 2, axis=0), atol=1e-4)
    assert len({tuple(rows[0]) for rows in tokens}) == 3, "the prompts lead to different tokens"


def test_sampled_batch_is_the_same_with_and_without_the_cache(tiny):
    model, params = tiny
    run = lambda use_cache: generate_batch(  # noqa: E731
        model,
        params,
        PROMPTS,
        max_new_tokens=12,
        num_samples=3,
        sampler=Sampler(top_k=8),
        seed=4,
        use_cache=use_cache,
        chunk=5,
    )
    (cached, cached_lp), (recomputed, recomputed_lp) = run(True), run(False)
    np.testing.assert_array_equal(cached, recomputed)
    np.testing.assert_allclose(cached_lp, recomputed_lp, atol=1e-4)
    assert len({tuple(row) for row in cached.reshape(9, -1)}) > 3, "rows are independent samples"


def test_batch_rows_stop_at_the_end_token_independently(tiny):
    model, params = tiny
    greedy, _ = generate_batch(
        model, params, PROMPTS, max_new_tokens=6, sampler=Sampler(temperature=0)
    )
    end_id = int(greedy[1, 0, 1])  # The second prompt's second greedy token ends it.
    tokens, log_probs = generate_batch(
        model, params, PROMPTS, max_new_tokens=6, sampler=Sampler(temperature=0), end_id=end_id
    )
    for row, (got, want) in enumerate(zip(tokens[:, 0], greedy[:, 0])):
        ends = np.flatnonzero(want == end_id)
        first = int(ends[0]) if ends.size else 6
        np.testing.assert_array_equal(got[: first + 1], want[: first + 1])
        assert (got[first:] == end_id).all() and (log_probs[row, 0, first + 1 :] == 0).all()


@pytest.mark.parametrize(
    "prompts, new, match",
    [
        ([PROMPT, np.array([], np.int32)], 5, r"prompts\[1\] must be a non-empty int array"),
        ([PROMPT, PROMPT, np.array([3, 101])], 5, r"prompts\[2\] token id 101 \(at position 1\)"),
        ([PROMPT, np.arange(64) % 101], 1, r"prompts\[1\] has 64 tokens .* context is 64"),
        ([PROMPT, np.arange(60)], 10, r"max_new_tokens=10 must be in \[1, 4\]: prompts\[1\]"),
        ([], 5, "non-empty sequence of prompts"),
        (PROMPT, 5, r"for one prompt pass \[prompt\]"),
    ],
)
def test_bad_batches_name_the_bad_prompt(tiny, prompts, new, match):
    model, params = tiny
    with pytest.raises(ValueError, match=match):
        generate_batch(model, params, prompts, max_new_tokens=new)
