"""Co-training's three modules: shapes, the uniform start, the probe-compatible backbone, errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxpretrain import models
from jaxpretrain.models import CodeEncoder, ConditionalModels, MarginalModel, SequenceBackbone

BACKBONE = dict(features=8, kernels=(2, 2), strides=(2, 2), context_features=6)


def test_shapes_uniform_start_and_the_backbone_a_probe_inherits():
    x = jax.ShapeDtypeStruct((3, 40, 1), jnp.float32)  # Shapes only: nothing is compiled.
    encoder = CodeEncoder(SequenceBackbone(**BACKBONE), num_codes=5)
    params = jax.eval_shape(lambda x: encoder.init(jax.random.PRNGKey(1), x), x)["params"]
    logits, context = jax.eval_shape(lambda p, x: encoder.apply({"params": p}, x), params, x)
    assert logits.shape == (3, 10, 5) and context.shape == (3, 10, 6)
    # The "backbone" subtree is exactly the pooled probe backbone's parameter tree.
    probe = SequenceBackbone(**BACKBONE, pooled=True)
    probe_params = jax.eval_shape(lambda x: probe.init(jax.random.PRNGKey(2), x), x)["params"]
    assert jax.tree.map(jnp.shape, params["backbone"]) == jax.tree.map(jnp.shape, probe_params)

    context = jax.random.normal(jax.random.PRNGKey(3), context.shape)
    conditional = ConditionalModels(num_codes=5, offsets=3)
    c_params = conditional.init(jax.random.PRNGKey(3), context)["params"]
    conditional_logits = conditional.apply({"params": c_params}, context)
    assert conditional_logits.shape == (3, 3, 10, 5)
    marginal = MarginalModel(num_codes=5)
    m_params = marginal.init(jax.random.PRNGKey(4))["params"]
    # Zero-initialised entropy models: uniform predictions, so Ĥ = ln K at the start.
    np.testing.assert_array_equal(marginal.apply({"params": m_params}), np.zeros(5))
    np.testing.assert_array_equal(conditional_logits, 0.0)


def test_conditional_logits_are_a_linear_head_per_offset():
    c = jax.random.normal(jax.random.PRNGKey(0), (2, 4, 3))
    model = ConditionalModels(num_codes=2, offsets=2)
    rng = np.random.default_rng(0)
    params = {"kernel": rng.normal(size=(2, 3, 2)), "bias": rng.normal(size=(2, 2))}
    got = model.apply({"params": params}, c)
    for d in range(2):
        want = np.asarray(c) @ np.asarray(params["kernel"][d]) + np.asarray(params["bias"][d])
        np.testing.assert_allclose(got[d], want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "module, args, match",
    [
        (MarginalModel(num_codes=1), (), "K >= 2 codes"),
        (ConditionalModels(num_codes=1, offsets=1), (jnp.zeros((1, 4, 2)),), "K >= 2 codes"),
        (ConditionalModels(num_codes=3, offsets=4), (jnp.zeros((1, 4, 2)),), "too short"),
        (ConditionalModels(num_codes=3, offsets=0), (jnp.zeros((1, 4, 2)),), "at least one"),
        (CodeEncoder(SequenceBackbone(**BACKBONE), 1), (jnp.zeros((1, 8, 1)),), "K >= 2"),
    ],
)
def test_bad_sizes_are_clear_errors(module, args, match):
    with pytest.raises(ValueError, match=match):
        jax.eval_shape(lambda: module.init(jax.random.PRNGKey(0), *args))


def test_exported():
    assert {"CodeEncoder", "ConditionalModels", "MarginalModel"} <= set(models.__all__)
