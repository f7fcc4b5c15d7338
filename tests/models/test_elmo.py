"""ELMo's model: the LSTMP cell against its equations, sentence restarts in packed rows, no peeking
across time, the character encoder, and the scalar mix."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxpretrain import models
from jaxpretrain.data.characters import sentence_char_ids, tokenize
from jaxpretrain.models.elmo import LSTMPStack, sentence_starts

SMALL = dict(
    filters=((1, 4), (2, 4), (3, 8)),
    char_features=4,
    highway_layers=1,
    projection=6,
    lstm_features=8,
    num_layers=2,
)


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def test_lstmp_cell_is_its_equations_with_clipping():
    cell = models.LSTMPCell(features=3, projection=2, cell_clip=0.5, projection_clip=0.3)
    rng = np.random.default_rng(0)
    c, h = rng.normal(size=(4, 3)), rng.normal(size=(4, 2))
    gates_x = 2 * rng.normal(size=(4, 12))
    reset = np.array([0.0, 1.0, 0.0, 0.0])[:, None]
    inputs = np.concatenate([gates_x, reset], 1).astype(np.float32)
    params = cell.init(jax.random.key(0), (c, h), inputs)["params"]
    (c_new, h_new), out = cell.apply({"params": params}, (c, h), inputs)
    w_h = np.asarray(params["recurrent"]["kernel"])
    w_p = np.asarray(params["projection"]["kernel"])
    c0, h0 = c * (1 - reset), h * (1 - reset)  # Row 1 restarts from zeros.
    i, j, f, o = np.split(gates_x + h0 @ w_h, 4, axis=1)
    c_ref = np.clip(_sigmoid(f + 1) * c0 + _sigmoid(i) * np.tanh(j), -0.5, 0.5)
    h_ref = np.clip((_sigmoid(o) * np.tanh(c_ref)) @ w_p, -0.3, 0.3)
    np.testing.assert_allclose(c_new, c_ref, atol=1e-5)
    np.testing.assert_allclose(h_new, h_ref, atol=1e-5)
    np.testing.assert_allclose(out, h_ref, atol=1e-5)
    assert np.abs(c_ref).max() == pytest.approx(0.5)  # The clip was active.


def test_sentence_starts_in_both_reading_orders():
    segments = jnp.array([[1, 1, 2, 2, 2, 0]])
    np.testing.assert_array_equal(sentence_starts(segments, False)[0], [1, 0, 1, 0, 0, 1])
    np.testing.assert_array_equal(sentence_starts(segments, True)[0], [0, 1, 0, 0, 1, 1])


T = 16  # Every test row has T tokens, so each function compiles once.


def _chars(*sentences):
    return jnp.asarray(sentence_char_ids([tokenize(s) for s in sentences], length=T))


@pytest.fixture(scope="module")
def bilm_and_params():
    """The BiLM, its params and its compiled apply (chars, segments) -> (x, forward, backward)."""
    bilm = models.BiLM(**SMALL)
    params = jax.jit(bilm.init)(jax.random.key(1), _chars("a b c"))["params"]

    apply = jax.jit(lambda chars, segments: bilm.apply({"params": params}, chars, segments))

    def run(chars, segments=None):  # One sentence a row unless segments say otherwise.
        if segments is None:
            segments = models.token_mask(chars).astype(jnp.int32)
        return apply(chars, segments)

    return bilm, params, run


def _packed(sentences, length):
    """chars [1, T, C] and segments [1, T] of `sentences` packed into one row."""
    rows = sentence_char_ids([tokenize(s) for s in sentences])
    lengths = [len(tokenize(s)) + 2 for s in sentences]
    chars = np.zeros((1, length, rows.shape[2]), np.int32)
    segments = np.zeros((1, length), np.int32)
    at = 0
    for n, (row, size) in enumerate(zip(rows, lengths)):
        chars[0, at : at + size] = row[:size]
        segments[0, at : at + size] = n + 1
        at += size
    return jnp.asarray(chars), jnp.asarray(segments), lengths


def test_a_packed_row_equals_its_sentences_read_alone(bilm_and_params):
    _, _, run = bilm_and_params
    sentences = ["In the beginning God", "And the earth was void ."]
    chars, segments, lengths = _packed(sentences, T)
    _, forward, backward = run(chars, segments)
    at = 0
    for sentence, size in zip(sentences, lengths):
        _, f_alone, b_alone = run(_chars(sentence))
        np.testing.assert_allclose(forward[:, 0, at : at + size], f_alone[:, 0, :size], atol=1e-5)
        np.testing.assert_allclose(backward[:, 0, at : at + size], b_alone[:, 0, :size], atol=1e-5)
        at += size


def test_forward_never_reads_later_tokens_nor_backward_earlier_ones(bilm_and_params):
    _, _, run = bilm_and_params
    _, f1, b1 = run(_chars("w x y z"))
    _, f2, b2 = run(_chars("w x Q z"))  # Token 3 (counting <S>) differs; 6 tokens in all.
    np.testing.assert_allclose(f1[:, :, :3], f2[:, :, :3], atol=1e-6)
    assert not np.allclose(f1[:, :, 3:6], f2[:, :, 3:6], atol=1e-4)
    np.testing.assert_allclose(b1[:, :, 4:6], b2[:, :, 4:6], atol=1e-6)
    assert not np.allclose(b1[:, :, :4], b2[:, :, :4], atol=1e-4)


def test_the_backward_stack_reads_the_reversed_sentence(bilm_and_params):
    """The backward LM is a forward stack over the sentence reversed (with its own weights)."""
    _, params, run = bilm_and_params
    chars = jnp.asarray(sentence_char_ids([tokenize("one two three four")]))  # No padding.
    x, _, backward = run(chars)
    segments = jnp.ones(chars.shape[:2], jnp.int32)
    stack = LSTMPStack(2, SMALL["lstm_features"], SMALL["projection"], reverse=False)
    flipped = jax.jit(stack.apply)({"params": params["backward"]}, x[:, ::-1], segments)
    np.testing.assert_allclose(backward, flipped[:, :, ::-1], atol=1e-5)


def test_char_encoder_highway_starts_near_the_identity_and_rejects_wide_filters():
    encoder = models.CharEncoder(filters=((1, 4), (3, 4)), char_features=4, projection=5)
    chars = jnp.ones((2, 3, 6), jnp.int32)
    params = jax.jit(encoder.init)(jax.random.key(0), chars)["params"]
    np.testing.assert_array_equal(params["highway0_gate"]["bias"], -2.0)
    assert jax.jit(encoder.apply)({"params": params}, chars).shape == (2, 3, 5)
    with pytest.raises(ValueError, match="wider than the 2 characters"):
        encoder.init(jax.random.key(0), jnp.ones((1, 1, 2), jnp.int32))


def test_scalar_mix_is_gamma_times_softmax_weighted_layers():
    rng = np.random.default_rng(0)
    layers = jnp.asarray(rng.normal(size=(3, 2, 4, 5)), jnp.float32)
    mix = models.ScalarMix(3)
    params = {"weights": jnp.array([0.5, -1.0, 2.0]), "gamma": jnp.array(1.7)}
    s = np.exp(params["weights"]) / np.exp(params["weights"]).sum()
    expected = 1.7 * np.einsum("l,lbtd->btd", s, layers)
    np.testing.assert_allclose(mix.apply({"params": params}, layers), expected, rtol=1e-5)
    fresh = mix.init(jax.random.key(0), layers)["params"]
    np.testing.assert_array_equal(fresh["weights"], 0.0)  # s starts uniform, γ at 1.
    assert float(fresh["gamma"]) == 1.0
    with pytest.raises(ValueError, match="weights for 3 layers but was given 4"):
        mix.init(jax.random.key(0), jnp.zeros((4, 1, 2, 3)))


def test_scalar_mix_layer_norm_normalises_each_sentence_over_its_tokens():
    rng = np.random.default_rng(1)
    layers = jnp.asarray(3 + 2 * rng.normal(size=(2, 2, 6, 4)), jnp.float32)
    mask = jnp.array([[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1]], bool)
    mix = models.ScalarMix(2, layer_norm=True)
    params = {"weights": jnp.array([0.0, -1e9]), "gamma": jnp.array(1.0)}  # Layer 0 alone.
    out = np.asarray(mix.apply({"params": params}, layers, mask))
    first = out[0, :4]  # Sentence 0's real tokens.
    assert first.mean() == pytest.approx(0.0, abs=1e-5) and first.var() == pytest.approx(1.0, 1e-4)
    reference = (layers[0, 0, :4] - layers[0, 0, :4].mean()) / layers[0, 0, :4].std()
    np.testing.assert_allclose(first, reference, atol=1e-4)


def test_the_elmo_backbone_mixes_the_layers_and_pools_over_words_only(bilm_and_params):
    _, bilm_params, run = bilm_and_params
    model_config = {"backbone": "elmo", **SMALL, "mix_layer_norm": False}
    encoder = models.backbone(model_config)
    assert isinstance(encoder, models.ElmoEncoder)
    assert models.backbone_inputs(model_config) == ("chars",)
    classifier = models.Classifier(encoder, num_classes=3)
    chars = _chars("a b c", "d")
    params = nn.unbox(jax.jit(classifier.init)(jax.random.key(0), chars)["params"])
    assert set(params) == {"backbone", "head"} and set(params["backbone"]) == {"bilm", "mix"}
    weights, gamma = np.array([0.3, -0.2, 1.0]), 0.5
    params["backbone"] = {
        "bilm": bilm_params,
        "mix": {"weights": jnp.asarray(weights), "gamma": jnp.asarray(gamma)},
    }
    pooled = jax.jit(lambda p, c: classifier.apply({"params": p}, c, method="embed"))(params, chars)
    x, forward, backward = run(chars)
    layers = np.stack([np.concatenate([x, x], -1), *np.concatenate([forward, backward], -1)])
    s = np.exp(weights) / np.exp(weights).sum()
    mixed = gamma * np.einsum("l,lbtd->btd", s, layers)  # [B, T, 2P]
    assert pooled.shape == (2, 2 * SMALL["projection"])
    np.testing.assert_allclose(pooled[0], mixed[0, 1:4].mean(0), atol=1e-5)  # Not <S>, </S>.
    np.testing.assert_allclose(pooled[1], mixed[1, 1], atol=1e-5)
