"""The backbone registry builds every encoder from a config block, pooled or not, and the one
classifier head runs over any of them; module_fields turns config values into module fields."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxpretrain import models

# A tiny config block per registered backbone, and an input of the kind it reads.
CASES = {
    "resnet": (dict(variant="resnet_tiny"), jnp.zeros((2, 8, 8, 1))),
    "resnet_patches": (
        dict(variant="resnet_tiny", patch_size=4, patch_stride=2),
        jnp.zeros((2, 8, 8, 1)),
    ),
    "conv_encoder": (dict(features=[4, 8], num_groups=2), jnp.zeros((2, 8, 8, 1))),
    "rda_encoder": (dict(features=[4, 8], num_groups=2, latent=3), jnp.zeros((2, 8, 8, 1))),
    "rda_dense_encoder": (dict(features=[5], latent=3), jnp.zeros((2, 12, 1))),
    "cpc_sequence": (
        dict(features=4, kernels=[2, 1], strides=[2, 1], context_features=3, pool="context"),
        jnp.zeros((2, 12, 1)),
    ),
    # A text encoder reads several batch keys: its case gives one input per key.
    "bert": (
        dict(variant="bert-test", num_layers=1),
        (jnp.ones((2, 6), jnp.int32), jnp.zeros((2, 6), jnp.int32), jnp.ones((2, 6), bool)),
    ),
    "elmo": (  # Characters [B, T, C] of one-sentence rows (0: no token).
        dict(filters=[[1, 2], [2, 2]], char_features=2, projection=3, lstm_features=4),
        (jnp.ones((2, 5, 4), jnp.int32),),
    ),
    "word_mean": (dict(vocab_size=7, features=3), (jnp.array([[1, 2, -1], [6, -1, -1]]),)),
}
TEXT_INPUTS = {
    "bert": ("tokens", "token_types", "valid"),
    "elmo": ("chars",),
    "word_mean": ("words",),
}


def test_every_registered_backbone_has_a_case():
    assert set(CASES) == set(models.BACKBONES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_pooled_backbone_under_a_classifier_head(name):
    fields, x = CASES[name]
    inputs = x if isinstance(x, tuple) else (x,)
    config = {"backbone": name, **fields}
    keys = models.backbone_inputs(config)
    if name in TEXT_INPUTS:
        assert keys == TEXT_INPUTS[name]
    else:
        assert keys == ("signal" if x.ndim == 3 else "image",)
    classifier = models.Classifier(models.backbone(config), num_classes=5)
    params = classifier.init(jax.random.key(0), *inputs)["params"]
    assert set(params) == {"backbone", "head"}
    logits = classifier.apply({"params": params}, *inputs)
    assert logits.shape == (2, 5) and logits.dtype == jnp.float32
    np.testing.assert_array_equal(logits, 0.0)  # The head starts at zero: loss ln V.
    features = classifier.apply({"params": params}, *inputs, method="embed")
    assert features.shape == (2, params["head"]["kernel"].shape[0])


def test_unpooled_backbones_keep_their_positions():
    fields, x = CASES["resnet_patches"]
    grid = models.backbone({"backbone": "resnet_patches", **fields}, pooled=False)
    z = grid.apply(grid.init(jax.random.key(0), x), x)
    assert z.shape[:3] == (2, 3, 3)  # [B, R, S, D]: 3x3 patches of 4 px, stride 2, on 8 px.
    fields, x = CASES["cpc_sequence"]
    sequence = models.backbone({"backbone": "cpc_sequence", **fields}, pooled=False)
    z, c = sequence.apply(sequence.init(jax.random.key(0), x), x)
    assert z.shape == (2, 6, 4) and c.shape == (2, 6, 3)


def test_unknown_backbone_lists_the_registered_ones():
    with pytest.raises(ValueError, match="unknown backbone 'vit'.*conv_encoder.*resnet"):
        models.backbone({"backbone": "vit"})
    with pytest.raises(ValueError, match="unknown backbone None"):
        models.backbone_inputs({"variant": "resnet18"})


def test_module_fields_makes_tuples_and_dtypes():
    fields = models.module_fields(
        {"variant": "x", "features": [1, 2], "dtype": "bfloat16", "width": 3}, drop=("variant",)
    )
    assert fields == {"features": (1, 2), "dtype": jnp.dtype(jnp.bfloat16), "width": 3}
