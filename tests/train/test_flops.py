"""FLOP counting for MFU: the GPT rule against a hand count and XLA's count; the peak is real."""

import jax
import jax.numpy as jnp

from jaxpretrain import models
from jaxpretrain.train import flops


def test_gpt_flops_per_token_matches_a_hand_count_and_xla():
    model = models.gpt2("gpt2-tiny")  # L 2, H 2, D 32, V 101, 64 learned positions.
    num_layers, width, vocab, context = 2, 32, 101, 16
    d = width
    # q, k, v kernels and biases; out; ln_1 and ln_2; fc [D, 4D] and bias; proj [4D, D] and bias.
    block = 3 * (d * d + d) + (d * d + d) + 2 * 2 * d + (d * 4 * d + 4 * d) + (4 * d * d + d)
    n = num_layers * block + 2 * d + vocab * d  # + ln_f + the tied head; wpe is not counted.
    params = models.init_gpt(model, jax.random.PRNGKey(0))
    assert flops.gpt_flop_params(params) == n
    # Forward: 2 FLOPs per parameter, QKᵀ and αV 2·T·D each per layer; training is 3 forwards.
    forward = 2 * n + num_layers * (2 * context * d + 2 * context * d)
    per_token = flops.gpt_flops_per_token(n, num_layers=num_layers, width=width, context=context)
    assert per_token == 3 * forward
    # XLA's count of a wider model's forward pass is the analytic one plus the O(D) rest.
    model = models.gpt2("gpt2", num_layers=1, num_heads=4, width=256, vocab_size=256, max_length=64)
    params = models.init_gpt(model, jax.random.PRNGKey(0))
    tokens = jnp.zeros((2, 64), jnp.int32)
    apply = jax.jit(lambda p, t: model.apply({"params": p}, t))
    xla = apply.lower(params, tokens).compile().cost_analysis()["flops"] / tokens.size
    analytic = flops.gpt_flops_per_token(
        flops.gpt_flop_params(params), num_layers=1, width=256, context=64
    )
    assert 1.0 <= xla / (analytic / 3) < 1.05


def test_peak_matmul_flops_is_a_plausible_rate():
    peak = flops.peak_matmul_flops("float32", repeats=1, chain=2)
    assert 1e8 < peak < 1e16


def test_bert_flops_count_the_head_at_the_predicted_positions_as_hand_and_xla_do():
    model = models.bert("bert-test")  # L 2, H 2, D 32, V 101, 64 learned positions.
    num_layers, d, vocab, length, predictions = 2, 32, 101, 16, 3
    layer = 4 * (d * d + d) + 2 * 2 * d + (d * 4 * d + 4 * d) + (4 * d * d + d)  # 12D² + 13D
    expected = flops.BertFlopParams(
        token=num_layers * layer + 2 * d,  # The layers and the embeddings' LayerNorm.
        prediction=(d * d + d) + 2 * d + vocab * d + vocab,  # Transform, LN, tied decoder, bias.
        instance=(d * d + d) + (d * 2 + 2),  # Pooler and next-sentence head.
    )
    n = flops.bert_flop_params(models.init_bert(model, jax.random.PRNGKey(0)))
    assert n == expected and n.total == sum(expected)
    per_token = flops.bert_flops_per_token(
        n, num_layers=num_layers, width=d, length=length, predictions=predictions
    )
    forward_per_instance = (
        2 * n.token * length
        + 2 * n.prediction * predictions
        + 2 * n.instance
        + num_layers * 4 * length * length * d
    )
    assert per_token == 3 * forward_per_instance / length
    # Run at every position, the head would make it GPT's 6N + 12·L·T·D.
    everywhere = flops.bert_flops_per_token(
        n._replace(token=n.token + n.prediction, prediction=0, instance=0),
        num_layers=num_layers,
        width=d,
        length=length,
        predictions=0,
    )
    assert everywhere == flops.gpt_flops_per_token(
        n.token + n.prediction, num_layers=num_layers, width=d, context=length
    )
    # XLA's count of a wider model's forward (the head at P positions) is the analytic one plus
    # the O(D) rest (softmax, GELU, LayerNorm statistics).
    model = models.bert("bert-mini", num_layers=1, vocab_size=512, max_length=64)
    params = models.init_bert(model, jax.random.PRNGKey(0))
    tokens = jnp.zeros((2, 64), jnp.int32)
    positions = jnp.tile(jnp.arange(8), (2, 1))  # P = 8
    apply = jax.jit(lambda p, t, m: model.apply({"params": p}, t, masked_positions=m))
    xla = apply.lower(params, tokens, positions).compile().cost_analysis()["flops"] / tokens.size
    analytic = flops.bert_flops_per_token(
        flops.bert_flop_params(params), num_layers=1, width=256, length=64, predictions=8
    )
    assert 1.0 <= xla / (analytic / 3) < 1.1


def test_elmo_flops_per_token_matches_a_hand_count():
    import ml_collections

    model = ml_collections.ConfigDict(
        dict(
            filters=((1, 2), (3, 4)),
            char_features=5,
            highway_layers=2,
            projection=6,
            lstm_features=7,
            num_layers=3,
        )
    )
    chars, vocab = 10, 11  # C, V.
    # Convolutions, VALID over C = 10: width 1 at 10 positions, width 3 at 8; kernels + biases.
    convolutions = 10 * (1 * 5 * 2 + 2) + 8 * (3 * 5 * 4 + 4)
    s = 2 + 4  # Σ F_w
    highway = 2 * (2 * (s * s + s))  # Two layers, each a gate and a transform with biases.
    projection = s * 6 + 6
    # Per direction and layer: input gates [P, 4F] + bias, recurrent [P, 4F], projection [F, P].
    lstm = 2 * 3 * ((6 * 28 + 28) + 6 * 28 + 7 * 6)
    softmax = 2 * (6 * 11 + 11)  # Both directions at every position.
    expected = 6 * (convolutions + highway + projection + lstm + softmax)
    assert flops.elmo_flops_per_token(model, vocab, chars) == expected
    # A sampled softmax of K = 3 reads the target's row and K candidates': 4 of the V rows.
    sampled = expected - 6 * softmax + 6 * 2 * (6 * 4 + 4)
    assert flops.elmo_flops_per_token(model, vocab, chars, sampled_softmax=3) == sampled
    # The dense layers (every one but the convolutions) are 6N of their parameters, as GPT's.
    elmo = models.ElmoLM(
        models.BiLM(
            filters=model.filters,
            char_features=5,
            highway_layers=2,
            projection=6,
            lstm_features=7,
            num_layers=3,
        ),
        vocab,
    )
    shapes = jax.eval_shape(elmo.init, jax.random.PRNGKey(0), jnp.ones((1, 4, chars), jnp.int32))
    params = shapes["params"]  # Shapes only: nothing is compiled.
    encoder = params["bilm"]["tokens"]
    dense = flops._size(params) - flops._size(encoder["chars"])
    dense -= sum(flops._size(encoder[f"conv{w}"]) for w, _ in model.filters)
    # The softmax's parameters are applied twice (once per direction).
    dense += flops._size(params["softmax"])
    assert expected - 6 * convolutions == 6 * dense
