"""GPT-2: shapes, causality, tied head, preset sizes, init scales, overfitting, errors."""

import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxpretrain.models import GPT, gpt2, init_cache, init_gpt, num_params


@pytest.fixture(scope="module")
def tiny():
    model = gpt2("gpt2-tiny")
    return model, init_gpt(model, jax.random.key(0))


def _forward(model, **kwargs):
    """A jitted forward pass: compiling once is far faster on CPU than op-by-op."""
    return jax.jit(lambda params, tokens: model.apply({"params": params}, tokens, **kwargs))


def _tokens(b, t, v=101, seed=1):
    return jax.random.randint(jax.random.key(seed), (b, t), 0, v)


def test_shapes_dtype_and_plain_params(tiny):
    model, params = tiny
    logits = _forward(model)(params, _tokens(3, 7))
    assert logits.shape == (3, 7, 101) and logits.dtype == jnp.float32
    assert np.all(np.isfinite(logits))
    leaves = jax.tree_util.tree_leaves(params, is_leaf=lambda x: isinstance(x, nn.Partitioned))
    assert all(isinstance(x, jax.Array) for x in leaves)
    assert set(params) == {"wte", "wpe", "h_0", "h_1", "ln_f"}
    assert params["wte"]["embedding"].shape == (101, 32)
    assert params["h_0"]["attn"]["query"]["kernel"].shape == (2, 16, 32)  # [H, K, D]
    assert params["h_0"]["mlp"]["fc"]["kernel"].shape == (32, 128)  # [D, 4D]


def test_bfloat16_compute_gives_float32_logits(tiny):
    _, params = tiny
    logits = _forward(gpt2("gpt2-tiny", dtype=jnp.bfloat16))(params, _tokens(3, 7))
    assert logits.dtype == jnp.float32 and np.all(np.isfinite(logits))


def test_causal_logits_at_t_ignore_later_tokens(tiny):
    model, params = tiny
    a = _tokens(2, 12, seed=2)
    b = a.at[:, 6:].set(_tokens(2, 6, seed=3))  # same prefix [0, 6), different suffix
    forward = _forward(model)
    la, lb = forward(params, a), forward(params, b)
    np.testing.assert_allclose(la[:, :6], lb[:, :6], atol=1e-6)
    assert not np.allclose(la[:, 6:], lb[:, 6:])


def test_padding_mask_on_the_right_leaves_real_positions_unchanged(tiny):
    model, params = tiny
    x = _tokens(2, 8, seed=4)
    valid = jnp.arange(8)[None, :] < jnp.array([[8], [5]])
    full = _forward(model)(params, x)
    masked = jax.jit(lambda p, t, v: model.apply({"params": p}, t, valid=v))(params, x, valid)
    np.testing.assert_allclose(masked[0], full[0], atol=1e-6)
    np.testing.assert_allclose(masked[1, :5], full[1, :5], atol=1e-6)


LENGTHS = (3, 7, 5)  # Prompts of different lengths, left-padded to 7.


def _left_padded(lengths=LENGTHS, seed=6):
    """The prompts alone (int [P_k] each), and left-padded: tokens int [K, P], valid bool [K, P]."""
    prompts = [np.asarray(_tokens(1, n, seed=seed + i))[0] for i, n in enumerate(lengths)]
    p = max(lengths)
    tokens = np.zeros((len(lengths), p), np.int32)
    valid = np.zeros((len(lengths), p), bool)
    for k, prompt in enumerate(prompts):
        tokens[k, p - prompt.size :] = prompt
        valid[k, p - prompt.size :] = True
    return prompts, tokens, valid


def test_left_padded_logits_match_each_prompt_alone(tiny):
    """Positions count real tokens only, so the first real token of each row is position 0."""
    model, params = tiny
    prompts, tokens, valid = _left_padded()
    batch = jax.jit(lambda p, t, v: model.apply({"params": p}, t, valid=v))(params, tokens, valid)
    p = tokens.shape[1]
    for k, prompt in enumerate(prompts):
        alone = _forward(model)(params, prompt[None])[0]  # [P_k, V]
        np.testing.assert_allclose(batch[k, p - prompt.size :], alone, atol=1e-5, rtol=1e-5)
    assert np.all(np.isfinite(batch))  # Padded rows are finite (and meaningless).


def test_decode_of_a_left_padded_batch_matches_each_prompt_alone(tiny):
    """Prefill the left-padded prompts into the cache, then decode 4 tokens one at a time: the
    logits equal a full causal pass over each prompt plus its continuation, run alone."""
    model, params = tiny
    prompts, tokens, valid = _left_padded()
    k, p = tokens.shape
    steps = np.asarray(_tokens(k, 4, seed=9))  # [K, 4] continuations, one per row.
    cache = init_cache(model, k, p + 4)
    assert cache["key_valid"].shape == (k, p + 4) and cache["key_valid"].dtype == jnp.bool_
    assert cache["position"].shape == (k,) and cache["index"].shape == ()

    @jax.jit
    def decode(cache, tokens, valid):
        logits, variables = model.apply(
            {"params": params, "cache": cache}, tokens, valid=valid, decode=True, mutable=["cache"]
        )
        return logits, variables["cache"]

    logits, cache = decode(cache, tokens, valid)  # Prefill: [K, P, V].
    stepped = [logits]
    for i in range(4):
        logits, cache = decode(cache, steps[:, i : i + 1], None)  # Later steps: all real.
        stepped.append(logits)
    stepped = np.concatenate(stepped, axis=1)  # [K, P + 4, V]
    for row, prompt in enumerate(prompts):
        alone = _forward(model)(params, np.concatenate([prompt, steps[row]])[None])[0]
        np.testing.assert_allclose(stepped[row, p - prompt.size :], alone, atol=1e-5, rtol=1e-5)
    np.testing.assert_array_equal(cache["position"], np.asarray(LENGTHS) + 4)
    np.testing.assert_array_equal(
        cache["key_valid"], np.pad(valid, ((0, 0), (0, 4)), constant_values=True)
    )
    assert int(cache["index"]) == p + 4


def test_head_is_tied_to_the_token_embedding(tiny):
    model, params = tiny

    @jax.jit
    def logits_and_final_hidden(tokens):
        logits, state = model.apply(
            {"params": params},
            tokens,
            capture_intermediates=lambda m, _: m.name == "ln_f",
        )
        return logits, state["intermediates"]["ln_f"]["__call__"][0]

    logits, h = logits_and_final_hidden(_tokens(2, 5))  # [B, T, V], [B, T, D]
    want = h @ params["wte"]["embedding"].T  # [B, T, V]
    np.testing.assert_allclose(logits, want, atol=1e-5)
    assert "lm_head" not in params and num_params(params) == 30752


@pytest.mark.parametrize(
    "variant, count",
    [
        # Hugging Face GPT2LMHeadModel(...).num_parameters() with the head tied to wte.
        ("gpt2", 124_439_808),
        ("gpt2-medium", 354_823_168),
        ("gpt2-large", 774_030_080),
        ("gpt2-xl", 1_557_611_200),
    ],
)
def test_preset_parameter_counts_match_published(variant, count):
    model = gpt2(variant)
    shapes = jax.eval_shape(lambda rng: init_gpt(model, rng), jax.random.key(0))
    assert num_params(shapes) == count


def test_init_scales_follow_gpt2(tiny):
    _, p = tiny
    block = p["h_1"]
    assert np.std(block["attn"]["query"]["kernel"]) == pytest.approx(0.02, rel=0.1)
    assert np.std(block["mlp"]["fc"]["kernel"]) == pytest.approx(0.02, rel=0.1)
    scaled = 0.02 / math.sqrt(2 * 2)  # L = 2
    assert np.std(block["attn"]["out"]["kernel"]) == pytest.approx(scaled, rel=0.1)
    assert np.std(block["mlp"]["proj"]["kernel"]) == pytest.approx(scaled, rel=0.1)
    assert np.std(p["wte"]["embedding"]) == pytest.approx(0.02, rel=0.1)
    np.testing.assert_array_equal(block["ln_1"]["scale"], 1.0)
    np.testing.assert_array_equal(block["mlp"]["fc"]["bias"], 0.0)


def test_dropout_is_active_only_when_not_deterministic():
    model = gpt2("gpt2-tiny", dropout_rate=0.5)
    params = init_gpt(model, jax.random.key(0))
    x = _tokens(2, 6)
    det = _forward(model)(params, x)
    np.testing.assert_allclose(det, _forward(gpt2("gpt2-tiny"))(params, x), atol=1e-6)
    train = jax.jit(
        lambda key: model.apply({"params": params}, x, deterministic=False, rngs={"dropout": key})
    )
    d1, d2 = train(jax.random.key(1)), train(jax.random.key(2))
    assert not np.allclose(d1, det) and not np.allclose(d1, d2)


def test_tiny_model_overfits_one_batch():
    model = gpt2("gpt2-tiny", vocab_size=32, max_length=16)
    params = init_gpt(model, jax.random.key(0))
    tokens = _tokens(4, 16, v=32, seed=5)
    optimizer = optax.adam(1e-2)

    def loss_fn(p):
        logits = model.apply({"params": p}, tokens[:, :-1])
        return optax.softmax_cross_entropy_with_integer_labels(logits, tokens[:, 1:]).mean()

    @jax.jit
    def step(p, opt_state):
        loss, grads = jax.value_and_grad(loss_fn)(p)
        updates, opt_state = optimizer.update(grads, opt_state, p)
        return optax.apply_updates(p, updates), opt_state, loss

    opt_state = optimizer.init(params)
    losses = []
    for _ in range(80):
        params, opt_state, loss = step(params, opt_state)
        losses.append(float(loss))
    assert losses[0] == pytest.approx(math.log(32), rel=0.1)  # near-uniform at init
    assert losses[-1] < 0.05


@pytest.mark.parametrize(
    "tokens, match",
    [
        (jnp.zeros((2, 65), jnp.int32), "exceeds max_length=64"),
        (jnp.full((1, 3), 101, jnp.int32), r"outside the vocabulary \[0, 101\)"),
        (jnp.full((1, 3), -1, jnp.int32), "outside the vocabulary"),
        (jnp.zeros((1, 3)), r"int tokens of shape \[B, T\]"),
        (jnp.zeros((3,), jnp.int32), r"int tokens of shape \[B, T\]"),
    ],
)
def test_bad_inputs_raise_clear_errors(tiny, tokens, match):
    model, params = tiny
    with pytest.raises(ValueError, match=match):
        model.apply({"params": params}, tokens)


def test_too_long_input_fails_at_trace_time_under_jit(tiny):
    model, params = tiny
    with pytest.raises(ValueError, match="exceeds max_length"):
        jax.jit(lambda t: model.apply({"params": params}, t))(jnp.zeros((1, 65), jnp.int32))


def test_bad_configs_and_variants_raise():
    with pytest.raises(ValueError, match="not divisible by num_heads"):
        model = GPT(vocab_size=10, max_length=8, width=30, num_layers=1, num_heads=4)
        init_gpt(model, jax.random.key(0))
    with pytest.raises(ValueError, match="Unknown GPT-2 variant 'gpt3'"):
        gpt2("gpt3")


def test_xla_attention_gives_the_einsum_logits_and_gradients(tiny, monkeypatch):
    model, params = tiny
    fused = gpt2("gpt2-tiny", attention="xla")
    causal_flags = []  # is_causal of each fused call.
    original = jax.nn.dot_product_attention

    def spy(*args, is_causal=False, **kwargs):
        causal_flags.append(is_causal)
        return original(*args, is_causal=is_causal, **kwargs)

    monkeypatch.setattr(jax.nn, "dot_product_attention", spy)
    tokens, valid = _tokens(2, 12), jnp.arange(12)[None, :] < jnp.array([[12], [7]])

    def loss(m, params):
        logits = m.apply({"params": params}, tokens, valid=valid)
        return jnp.sum(jnp.where(valid[..., None], jax.nn.log_softmax(logits), 0.0))

    want, want_grads = jax.jit(jax.value_and_grad(lambda p: loss(model, p)))(params)
    got, grads = jax.jit(jax.value_and_grad(lambda p: loss(fused, p)))(params)
    np.testing.assert_allclose(got, want, rtol=1e-5)
    for g, w in zip(jax.tree_util.tree_leaves(grads), jax.tree_util.tree_leaves(want_grads)):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-6)
    assert causal_flags == [True] * fused.num_layers  # Every block, traced once.
