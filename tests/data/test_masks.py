"""Inpainting masks: the paper's three shapes, their coverage, determinism and bad sizes."""

import numpy as np
import pytest

from jaxpretrain.data import masks


def test_central_square_is_the_centred_window():
    mask = masks.central_square(32, 40, size=16)
    expected = np.zeros((32, 40), np.float32)
    expected[8:24, 12:28] = 1.0
    np.testing.assert_array_equal(mask, expected)


@pytest.mark.parametrize("kind", ["blocks", "regions"])
def test_random_masks_cover_the_asked_fraction_and_depend_only_on_the_rng(kind):
    draws = [
        masks.make_mask(kind, 32, 32, np.random.default_rng(seed), size=8, coverage=0.25)
        for seed in (0, 0, 1)
    ]
    for mask in draws:
        assert mask.shape == (32, 32) and mask.dtype == np.float32
        assert set(np.unique(mask)) <= {0.0, 1.0}
        assert 0.2 <= mask.mean() <= 0.45
    np.testing.assert_array_equal(draws[0], draws[1])
    assert not np.array_equal(draws[0], draws[2])


def test_regions_are_irregular_not_one_square():
    mask = masks.random_regions(64, 64, np.random.default_rng(0), size=16, coverage=0.25)
    rows, cols = np.nonzero(mask)
    box = (np.ptp(rows) + 1) * (np.ptp(cols) + 1)
    assert mask.sum() < 0.8 * box  # Not a filled rectangle.


@pytest.mark.parametrize("kind", masks.KINDS)
def test_a_mask_larger_than_the_image_is_a_one_line_error(kind):
    with pytest.raises(ValueError, match="does not fit the 16x16 image") as error:
        masks.make_mask(kind, 16, 16, np.random.default_rng(0), size=20)
    assert "\n" not in str(error.value)


def test_unknown_kind_and_bad_coverage():
    with pytest.raises(ValueError, match="config.mask.kind"):
        masks.make_mask("circle", 8, 8, np.random.default_rng(0), size=4)
    with pytest.raises(ValueError, match="coverage"):
        masks.random_blocks(8, 8, np.random.default_rng(0), size=4, coverage=1.5)
