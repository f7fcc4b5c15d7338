"""Greedy and beam search: exact against exhaustive search, beam 1 = greedy, the length penalty,
the cache reordered by beam (a real Transformer against full recomputation)."""

import functools
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxpretrain.methods.translation import translate
from jaxpretrain.models import init_transformer, transformer
from jaxpretrain.models.decoding import (
    beam_search,
    gather_beams,
    greedy_decode,
    length_penalty,
    sequence_lengths,
)

EOS = 0


def _table_model(batch_size, rows_per_example, vocab, length, seed=0, scale=2.0):
    """A hand-made prefix-dependent distribution and its step function.

    log-probs of token t+1 = log_softmax(C[b, t] + Σ_{j ≤ t} A[b, j, y_j]) (y_0 = BOS = EOS), for
    example b. The cache holds each row's prefix, so a wrongly reordered cache changes the scores.
    """
    rng = np.random.default_rng(seed)
    a = scale * rng.normal(size=(batch_size, length, vocab, vocab)).astype(np.float32)
    c = scale * rng.normal(size=(batch_size, length, vocab)).astype(np.float32)

    def logits(example, prefix):  # numpy: prefix = (y_0, ..., y_t)
        t = len(prefix) - 1
        return c[example, t] + sum(a[example, j, y] for j, y in enumerate(prefix))

    def step(tokens, cache):
        rows = tokens.shape[0]
        example = jnp.arange(rows) // rows_per_example
        i = cache["index"]
        prefix = jax.lax.dynamic_update_slice_in_dim(cache["prefix"], tokens, i, axis=1)
        seen = jnp.arange(length)[None, :] <= i  # [1, L]
        terms = jnp.asarray(a)[example[:, None], jnp.arange(length)[None, :], prefix]  # [N, L, V]
        out = jnp.asarray(c)[example, i] + jnp.sum(jnp.where(seen[..., None], terms, 0), axis=1)
        return out, {"prefix": prefix, "index": i + 1}

    cache = {
        "prefix": jnp.zeros((batch_size * rows_per_example, length), jnp.int32),
        "index": jnp.zeros((), jnp.int32),
    }
    return logits, step, cache


def _log_softmax(x):
    x = np.asarray(x, np.float64)
    return x - np.logaddexp.reduce(x)


def _exhaustive(log_probs, vocab, length, alpha):
    """Every hypothesis (EOS-terminated, or cut at L) with its score, best first.

    log_probs(prefix) -> [V] log-probabilities of the next token after prefix (BOS first).
    """
    hypotheses = []
    for n in range(1, length + 1):
        for body in itertools.product(range(1, vocab), repeat=n - 1):
            lasts = range(vocab) if n == length else [EOS]
            for last in lasts:
                y = (*body, last)
                logp = sum(log_probs((EOS, *y[:t]))[y[t]] for t in range(n))
                hypotheses.append((logp / ((5 + n) / 6) ** alpha, y))
    return sorted(hypotheses, key=lambda h: -h[0])


def _padded(y, length):
    return list(y) + [EOS] * (length - len(y))


@pytest.mark.parametrize("alpha", [0.0, 1.0])
def test_wide_beam_is_exhaustive_search(alpha):
    """V = 3, L = 4: 31 hypotheses. A beam of 32 holds all of them, so it must return exactly
    the exhaustive ranking, scores and sequences, for each example of the batch."""
    b, k, v, length = 2, 32, 3, 4
    logits, step, cache = _table_model(b, k, v, length)
    tokens, scores = jax.jit(
        functools.partial(
            beam_search,
            step,
            batch_size=b,
            beam_size=k,
            max_length=length,
            bos_id=EOS,
            eos_id=EOS,
            alpha=alpha,
        )
    )(cache)
    for example in range(b):
        want = _exhaustive(lambda p: _log_softmax(logits(example, p)), v, length, alpha)
        assert len(want) == 31
        np.testing.assert_allclose(scores[example, :31], [s for s, _ in want], rtol=1e-5)
        assert scores[example, 31] == -np.inf  # Fewer hypotheses than slots.
        got = np.asarray(tokens[example, :31]).tolist()
        assert got == [_padded(y, length) for _, y in want]


def test_narrow_beam_returns_sorted_valid_hypotheses():
    b, k, v, length = 2, 3, 5, 6
    logits, step, cache = _table_model(b, k, v, length, seed=1)
    tokens, scores = beam_search(
        step, cache, batch_size=b, beam_size=k, max_length=length, bos_id=EOS, eos_id=EOS
    )
    assert tokens.shape == (b, k, length) and scores.shape == (b, k)
    assert np.all(np.diff(scores, axis=1) <= 0)
    for example, j in itertools.product(range(b), range(k)):  # Each score is its sequence's.
        y = np.asarray(tokens[example, j])
        n = int(sequence_lengths(y, EOS))
        logp = sum(_log_softmax(logits(example, (EOS, *y[:t])))[y[t]] for t in range(n))
        assert scores[example, j] == pytest.approx(logp / ((5 + n) / 6) ** 0.6, rel=1e-5)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_beam_of_one_is_greedy(seed):
    b, v, length = 4, 4, 7
    _, step, cache = _table_model(b, 1, v, length, seed=seed, scale=1.0)
    args = dict(batch_size=b, max_length=length, bos_id=EOS, eos_id=EOS)
    greedy = jax.jit(functools.partial(greedy_decode, step, **args))(cache)
    beam, _ = jax.jit(functools.partial(beam_search, step, beam_size=1, alpha=1.0, **args))(cache)
    np.testing.assert_array_equal(beam[:, 0], greedy)
    assert len(set(map(tuple, np.asarray(greedy).tolist()))) > 1  # Rows differ: a real test.


def test_length_penalty_changes_the_winner():
    """p(EOS) = 0.5 at step 1, and p(EOS | a) = 0.99 after it: "EOS" has the higher
    log-probability (log .5 > log .4851), but with α = 1, "a EOS" wins (-0.7234 / (7/6) = -0.620
    beats -0.693 / 1)."""
    probs = jnp.log(jnp.array([[0.5, 0.49, 0.01], [0.99, 0.005, 0.005]]))  # [step, V]

    def step(tokens, cache):
        return jnp.broadcast_to(probs[jnp.minimum(cache, 1)], (tokens.shape[0], 3)), cache + 1

    def best(alpha):
        tokens, scores = beam_search(
            step,
            jnp.zeros((), jnp.int32),
            batch_size=1,
            beam_size=2,
            max_length=3,
            bos_id=EOS,
            eos_id=EOS,
            alpha=alpha,
        )
        return np.asarray(tokens[0, 0]).tolist(), float(scores[0, 0])

    assert best(0.0) == ([EOS, EOS, EOS], pytest.approx(np.log(0.5)))
    assert best(1.0) == ([1, EOS, EOS], pytest.approx(np.log(0.49 * 0.99) / (7 / 6)))
    assert float(length_penalty(2, 1.0)) == pytest.approx(7 / 6)
    assert float(length_penalty(9, 0.0)) == 1.0


def test_transformer_beam_search_with_cache_is_exhaustive_search_by_recomputation():
    """A random tiny Transformer (V = 3): beam search through its key/value cache, reordered by
    beam at every step, finds the same best hypothesis as exhaustive search whose log-probs come
    from full teacher-forced passes; greedy matches greedy by recomputation."""
    v, length = 3, 4
    model = transformer(
        "tiny", max_length=length, source_vocab_size=v, target_vocab_size=v, width=16, hidden=32
    )
    params = init_transformer(model, jax.random.key(3))
    params = jax.tree_util.tree_map(lambda x: 4 * x, params)  # Sharper, untied distributions.
    source = jnp.array([[1, 2, 2, EOS], [2, EOS, EOS, EOS]])
    valid = jnp.array([[True] * 4, [True, True, False, False]])
    full = jax.jit(lambda t: model.apply({"params": params}, source, t, source_valid=valid))

    @functools.cache
    def log_probs(example, prefix):
        padded = jnp.asarray(_padded(prefix, length))  # One shape compiles; the decoder is causal.
        return _log_softmax(full(jnp.tile(padded[None], (2, 1)))[example, len(prefix) - 1])

    search = jax.jit(
        lambda alpha: translate(
            params, source, valid, model=model, max_length=length, beam_size=32, alpha=alpha
        )
    )
    for alpha in (0.0, 1.0):
        beam = search(alpha)
        for example in range(2):
            want = _exhaustive(lambda p: log_probs(example, tuple(p)), v, length, alpha)
            assert np.asarray(beam[example]).tolist() == _padded(want[0][1], length)
    greedy = jax.jit(lambda: translate(params, source, valid, model=model, max_length=length))()
    for example in range(2):
        prefix = [EOS]
        while len(prefix) <= length and (len(prefix) == 1 or prefix[-1] != EOS):
            prefix.append(int(np.argmax(log_probs(example, tuple(prefix)))))
        assert np.asarray(greedy[example]).tolist() == _padded(prefix[1:], length)


def test_sequence_lengths_and_gather_beams():
    tokens = jnp.array([[3, 0, 0], [3, 4, 0], [3, 4, 5]])
    np.testing.assert_array_equal(sequence_lengths(tokens, 0), [2, 3, 3])
    cache = {"x": jnp.arange(6)[:, None] * jnp.ones((1, 2)), "i": jnp.array(7)}
    gathered = gather_beams(cache, jnp.array([[2, 2, 0], [1, 0, 0]]))  # B = 2, k = 3
    np.testing.assert_array_equal(gathered["x"][:, 0], [2, 2, 0, 4, 3, 3])
    assert int(gathered["i"]) == 7
    with pytest.raises(ValueError, match="B·k = 4"):
        gather_beams(cache, jnp.zeros((2, 2), jnp.int32))


def test_bad_arguments_raise():
    _, step, cache = _table_model(1, 1, 3, 3)
    with pytest.raises(ValueError, match="beam_size must be positive"):
        beam_search(step, cache, batch_size=1, beam_size=0, max_length=3, bos_id=0, eos_id=0)
    with pytest.raises(ValueError, match="max_length must be positive"):
        greedy_decode(step, cache, batch_size=1, max_length=0, bos_id=0, eos_id=0)
    with pytest.raises(ValueError, match="logits \\[N, V\\] = \\[2, V\\]"):
        greedy_decode(
            lambda t, c: (jnp.zeros((1, 3)), c),
            cache,
            batch_size=2,
            max_length=3,
            bos_id=0,
            eos_id=0,
        )
