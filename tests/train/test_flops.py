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
