"""Tests for jaxpretrain.models.masks: the causal, padding and combined boolean masks."""

import jax.numpy as jnp
import numpy as np
import pytest

from jaxpretrain.models import causal_mask, combine_masks, padding_mask

B, T, S = 2, 5, 4
_Q_VALID = np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]], bool)  # [B, T]
_K_VALID = np.array([[1, 1, 1, 0], [1, 0, 0, 0]], bool)  # [B, S]


def test_mask_helpers():
    np.testing.assert_array_equal(
        causal_mask(3)[0, 0], [[True, False, False], [True, True, False], [True, True, True]]
    )
    assert causal_mask(3).shape == (1, 1, 3, 3)
    pad = padding_mask(_Q_VALID, _K_VALID)
    assert pad.shape == (B, 1, T, S) and pad.dtype == jnp.bool_
    np.testing.assert_array_equal(pad[:, 0], _Q_VALID[:, :, None] & _K_VALID[:, None, :])
    assert padding_mask(_Q_VALID).shape == (B, 1, T, T)
    assert combine_masks(None, None) is None
    np.testing.assert_array_equal(combine_masks(None, causal_mask(4)), causal_mask(4))
    both = combine_masks(causal_mask(T), padding_mask(_Q_VALID))
    assert both.shape == (B, 1, T, T)
    np.testing.assert_array_equal(
        both, np.asarray(causal_mask(T)) & np.asarray(padding_mask(_Q_VALID))
    )


def test_invalid_masks_raise():
    with pytest.raises(ValueError, match="boolean"):
        combine_masks(np.zeros((1, 1, T, T)))
    with pytest.raises(ValueError, match="one rank"):
        combine_masks(causal_mask(T), _Q_VALID)
    with pytest.raises(ValueError, match=r"\[B, T\]"):
        padding_mask(_Q_VALID[0])
    with pytest.raises(ValueError, match="batch size"):
        padding_mask(_Q_VALID, _K_VALID[:1])
    with pytest.raises(ValueError, match="positive length"):
        causal_mask(0)
