"""BERT: shapes, parameter tree, padding invariance, token types, errors, the backbone registry,
init scales, and overfitting one batch of masked tokens."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxpretrain import losses, models
from jaxpretrain.models import Bert, BertEncoder, bert, bert_encoder, init_bert


@pytest.fixture(scope="module")
def tiny():
    model = bert("bert-test")
    return model, init_bert(model, jax.random.key(0))


def _forward(model, **kwargs):
    """A jitted forward pass: compiling once is far faster on CPU than op-by-op."""
    return jax.jit(lambda params, *args: model.apply({"params": params}, *args, **kwargs))


def _tokens(b, t, v=101, seed=1):
    return jax.random.randint(jax.random.key(seed), (b, t), 0, v)


def test_shapes_dtypes_and_parameter_tree(tiny):
    model, params = tiny
    mlm, nsp = _forward(model)(params, _tokens(3, 7))
    assert mlm.shape == (3, 7, 101) and mlm.dtype == jnp.float32
    assert nsp.shape == (3, 2) and nsp.dtype == jnp.float32
    assert np.all(np.isfinite(mlm)) and np.all(np.isfinite(nsp))
    assert set(params) == {"encoder", "mlm", "nsp"}
    encoder = params["encoder"]
    assert set(encoder) == {
        "word_embeddings", "position_embeddings", "token_type_embeddings", "embeddings_ln",
        "layer_0", "layer_1", "pooler",
    }  # fmt: skip
    assert set(encoder["layer_0"]) == {"attention", "ln_1", "mlp", "ln_2"}
    assert encoder["layer_0"]["attention"]["query"]["kernel"].shape == (2, 16, 32)  # [H, K, D]
    assert encoder["layer_0"]["mlp"]["fc"]["kernel"].shape == (32, 128)
    assert encoder["token_type_embeddings"]["embedding"].shape == (2, 32)
    assert set(params["mlm"]) == {"transform", "ln", "bias"}
    assert params["mlm"]["bias"].shape == (101,) and params["nsp"]["kernel"].shape == (32, 2)
    leaves = jax.tree_util.tree_leaves(params, is_leaf=lambda x: isinstance(x, nn.Partitioned))
    assert all(isinstance(x, jax.Array) for x in leaves)


def test_encoder_subtree_equals_a_standalone_encoder(tiny):
    model, params = tiny
    standalone = init_bert(BertEncoder(**model.encoder_fields()), jax.random.key(1))
    shapes = lambda tree: jax.tree.map(lambda a: (a.shape, a.dtype), tree)  # noqa: E731
    assert jax.tree.structure(standalone) == jax.tree.structure(params["encoder"])
    assert shapes(standalone) == shapes(params["encoder"])
    # And it computes the pretraining model's pooled output from the inherited subtree.
    tokens = _tokens(2, 9)
    pooled = _forward(BertEncoder(**model.encoder_fields()))(params["encoder"], tokens)
    h, pooled_too = _forward(BertEncoder(**model.encoder_fields()), method="encode")(
        params["encoder"], tokens
    )
    assert pooled.shape == (2, 32) and h.shape == (2, 9, 32)
    np.testing.assert_allclose(pooled, pooled_too, atol=1e-6)
    unpooled = _forward(BertEncoder(**model.encoder_fields(), pooled=False))(
        params["encoder"], tokens
    )
    np.testing.assert_allclose(unpooled, h, atol=1e-6)


def test_mlp_width_overrides_the_ratio():
    params = init_bert(bert_encoder("bert-test", mlp_width=37), jax.random.key(0))
    assert params["layer_1"]["mlp"]["fc"]["kernel"].shape == (32, 37)


def test_padding_appended_and_masked_leaves_real_positions_unchanged(tiny):
    model, params = tiny
    tokens, types = _tokens(2, 8), jnp.zeros((2, 8), jnp.int32).at[:, 5:].set(1)
    padded = jnp.concatenate([tokens, _tokens(2, 4, seed=9)], axis=1)
    padded_types = jnp.concatenate([types, jnp.ones((2, 4), jnp.int32)], axis=1)
    valid = jnp.arange(12)[None, :].repeat(2, 0) < 8
    forward = _forward(model)
    mlm, nsp = forward(params, tokens, types)
    mlm_p, nsp_p = forward(params, padded, padded_types, valid)
    np.testing.assert_allclose(mlm_p[:, :8], mlm, atol=1e-5)
    np.testing.assert_allclose(nsp_p, nsp, atol=1e-5)
    unmasked, _ = forward(params, padded, padded_types)
    assert not np.allclose(unmasked[:, :8], mlm, atol=1e-3)  # Without valid, padding leaks in.


def test_token_types_change_the_output(tiny):
    model, params = tiny
    tokens = _tokens(2, 6)
    forward = _forward(model)
    zeros, _ = forward(params, tokens)
    explicit, _ = forward(params, tokens, jnp.zeros((2, 6), jnp.int32))
    np.testing.assert_array_equal(zeros, explicit)  # None means all segment A.
    ones, _ = forward(params, tokens, jnp.ones((2, 6), jnp.int32))
    assert not np.allclose(zeros, ones, atol=1e-4)


def test_masked_positions_gather(tiny):
    model, params = tiny
    tokens = _tokens(2, 10)
    full, _ = _forward(model)(params, tokens)
    positions = jnp.array([[0, 3, 9], [5, 5, 1]])
    gathered, _ = _forward(model, masked_positions=positions)(params, tokens)
    expected = np.take_along_axis(np.asarray(full), np.asarray(positions)[:, :, None], axis=1)
    np.testing.assert_allclose(gathered, expected, atol=1e-5)


def test_input_errors_are_clear(tiny):
    model, params = tiny
    with pytest.raises(ValueError, match="length 65 exceeds max_length=64"):
        model.apply({"params": params}, jnp.zeros((1, 65), jnp.int32))
    with pytest.raises(ValueError, match=r"token_types span \[2, 2\], outside \[0, type_vocab"):
        model.apply({"params": params}, jnp.zeros((1, 4), jnp.int32), jnp.full((1, 4), 2))
    with pytest.raises(ValueError, match="token_types must be int"):
        model.apply({"params": params}, jnp.zeros((1, 4), jnp.int32), jnp.zeros((1, 3), jnp.int32))
    with pytest.raises(ValueError, match=r"masked_positions span \[0, 4\], outside"):
        model.apply(
            {"params": params}, jnp.zeros((1, 4), jnp.int32), masked_positions=jnp.array([[0, 4]])
        )
    with pytest.raises(ValueError, match="not divisible by num_heads"):
        init_bert(bert("bert-test", num_heads=3), jax.random.key(0))
    with pytest.raises(ValueError, match="Unknown BERT variant 'bert-huge'.*bert-base"):
        bert("bert-huge")


def test_init_scales(tiny):
    _, params = tiny
    encoder = params["encoder"]
    for table in ("word_embeddings", "position_embeddings"):
        assert abs(float(np.std(encoder[table]["embedding"])) - 0.02) < 0.003
    assert abs(float(np.std(encoder["layer_0"]["mlp"]["fc"]["kernel"])) - 0.02) < 0.003
    np.testing.assert_array_equal(encoder["layer_0"]["ln_1"]["scale"], 1.0)
    np.testing.assert_array_equal(encoder["pooler"]["bias"], 0.0)
    np.testing.assert_array_equal(params["mlm"]["bias"], 0.0)


def test_presets():
    assert isinstance(bert("bert-base"), Bert)
    base = bert("bert-base")
    assert (base.num_layers, base.num_heads, base.width, base.vocab_size) == (12, 12, 768, 30522)
    assert (bert("bert-large").num_layers, bert("bert-large").width) == (24, 1024)
    assert (bert("bert-tiny").num_layers, bert("bert-tiny").width) == (2, 128)
    assert (bert("bert-mini").num_layers, bert("bert-mini").width) == (4, 256)
    assert bert_encoder("bert-test", pooled=False).pooled is False


def test_backbone_registry_builds_a_pooled_encoder():
    config = {"backbone": "bert", "variant": "bert-test"}
    assert models.backbone_inputs(config) == ("tokens", "token_types", "valid")
    classifier = models.Classifier(models.backbone(config), num_classes=3)
    tokens = _tokens(2, 5)
    types, valid = jnp.zeros((2, 5), jnp.int32), jnp.ones((2, 5), bool)
    params = jax.jit(classifier.init)(jax.random.key(0), tokens, types, valid)["params"]
    assert set(params) == {"backbone", "head"}
    assert set(params["backbone"]) == set(init_bert(bert_encoder("bert-test"), jax.random.key(0)))
    features, logits = jax.jit(
        lambda p: (
            classifier.apply({"params": p}, tokens, types, valid, method="embed"),
            classifier.apply({"params": p}, tokens, types, valid),
        )
    )(params)
    assert features.shape == (2, 32) and logits.shape == (2, 3)
    assert models.backbone(config, pooled=False).pooled is False


def test_overfits_one_batch_of_masked_tokens():
    model = bert("bert-test", vocab_size=50)
    params = init_bert(model, jax.random.key(0))
    tokens = _tokens(4, 16, v=50, seed=3)
    positions = jnp.array([[1, 5, 9], [2, 3, 15], [0, 7, 8], [4, 10, 12]])
    targets = jnp.take_along_axis(tokens, positions, axis=1)
    inputs = jax.vmap(lambda t, p: t.at[p].set(0))(tokens, positions)  # 0 plays [MASK].
    labels = jnp.array([0, 1, 0, 1])
    where = jnp.ones(positions.shape, bool).at[3, 2].set(False)  # One padded prediction.
    optimizer = optax.adam(1e-2)

    def loss_fn(p):
        mlm, nsp = model.apply({"params": p}, inputs, masked_positions=positions)
        mlm_loss = losses.masked_lm(mlm, targets, where=where)
        mlm_loss = jnp.sum(mlm_loss) / (jnp.sum(where) + 1e-5)
        return mlm_loss + jnp.mean(losses.next_sentence(nsp, labels)), mlm_loss

    @jax.jit
    def step(p, state):
        (_, mlm_loss), grads = jax.value_and_grad(loss_fn, has_aux=True)(p)
        updates, state = optimizer.update(grads, state)
        return optax.apply_updates(p, updates), state, mlm_loss

    state = optimizer.init(params)
    params, state, first = step(params, state)
    for _ in range(60):
        params, state, last = step(params, state)
    assert float(first) > 3.0 and float(last) < 0.05, (float(first), float(last))
