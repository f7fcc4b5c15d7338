"""Lab conversion, ab bins, class rebalancing and the bundled-photos source."""

import numpy as np
import pytest
from skimage.color import lab2rgb, rgb2lab

from jaxpretrain.data import build_source, color, load_dataset, photos


def test_lab_round_trip_matches_scikit_image():
    rgb = np.random.default_rng(0).random((6, 7, 3)).astype(np.float32)
    lab = color.rgb_to_lab(rgb)
    np.testing.assert_allclose(lab, rgb2lab(rgb), atol=1e-3)
    np.testing.assert_allclose(color.lab_to_rgb(lab), rgb, atol=1e-4)
    np.testing.assert_allclose(color.rgb_to_lab((rgb * 255).astype(np.uint8)), rgb2lab(
        (rgb * 255).astype(np.uint8)), atol=1e-3)  # fmt: skip
    np.testing.assert_allclose(color.lab_to_rgb(lab), lab2rgb(lab), atol=1e-4)


@pytest.mark.parametrize("shape", [(8, 8, 1), (8, 8), (8, 8, 4)])
def test_a_grayscale_image_is_a_one_line_error(shape):
    with pytest.raises(ValueError, match="grayscale image has no colour") as error:
        color.rgb_to_lab(np.zeros(shape, np.float32))
    assert "\n" not in str(error.value)


def test_ab_bins_cover_the_srgb_gamut_on_a_grid_of_ten():
    bins = color.ab_bins()
    assert 200 < len(bins) < 400  # Zhang et al. count 313 cells with some in-gamut colour.
    assert np.all(bins % 10 == 0) and len(np.unique(bins, axis=0)) == len(bins)
    # Every sRGB colour is within half a cell (per axis) of its nearest bin centre.
    ab = color.rgb_to_lab(np.random.default_rng(1).random((50, 50, 3)))[..., 1:].reshape(-1, 2)
    nearest = bins[color.nearest_bin(ab, bins)]
    assert np.abs(nearest - ab).max() <= 5.0 + 1e-3


def test_nearest_bin_and_soft_encoding_match_brute_force():
    bins = color.ab_bins()
    rng = np.random.default_rng(2)
    ab = np.concatenate([rng.uniform(-130, 130, (300, 2)), rng.normal(0, 20, (300, 2))])
    distances = np.sum((ab[:, None] - bins) ** 2, -1)  # [N, Q]
    nearest = color.nearest_bin(ab, bins)
    np.testing.assert_allclose(distances[np.arange(len(ab)), nearest], distances.min(-1), rtol=1e-5)
    index, weights = color.soft_encode(ab.reshape(20, 30, 2), bins)
    assert index.shape == weights.shape == (20, 30, 5)
    index, weights = index.reshape(-1, 5), weights.reshape(-1, 5)
    order = np.argsort(distances, -1)[:, :5]
    np.testing.assert_allclose(np.sort(distances[np.arange(len(ab))[:, None], index], -1),
                               np.take_along_axis(distances, order, -1), rtol=1e-5)  # fmt: skip
    expected = np.exp(-np.take_along_axis(distances, order, -1) / (2 * 5.0**2))
    expected /= expected.sum(-1, keepdims=True)
    np.testing.assert_allclose(weights, expected, rtol=1e-4, atol=1e-6)  # Nearest first.


def test_rebalancing_weights_are_one_for_uniform_data_and_favour_rare_colours():
    bins = color.ab_bins()
    uniform = np.bincount(color.nearest_bin(np.repeat(bins, 3, axis=0), bins))
    np.testing.assert_array_equal(uniform, 3)
    np.testing.assert_allclose(color.rebalancing_weights(uniform, bins, sigma=1e-3), 1.0, rtol=1e-5)
    skewed = np.concatenate([np.zeros((1000, 2)), bins])  # Gray dominates, as in photos.
    counts = np.bincount(color.nearest_bin(skewed, bins), minlength=len(bins))
    weights = color.rebalancing_weights(counts, bins)
    gray = color.nearest_bin(np.zeros(2), bins)
    assert weights[gray] == weights.min() and weights.max() > 1.5
    # E_p̃[w] = 1 for the smoothed empirical distribution p̃ (Zhang et al. Eq. 4).
    kernel = np.exp(-np.sum((bins[:, None] - bins[None]) ** 2, -1) / (2 * 5.0**2))
    smoothed = kernel @ (counts / counts.sum())
    np.testing.assert_allclose(np.sum(smoothed / smoothed.sum() * weights), 1.0, rtol=1e-5)
    # Larger λ (more uniform mixed in) flattens the weights towards 1.
    assert np.ptp(color.rebalancing_weights(counts, bins, mix=0.9)) < np.ptp(weights)
    with pytest.raises(ValueError, match="counts must have shape"):
        color.rebalancing_weights(counts[:-1], bins)


def test_ab_bin_counts_count_the_evenly_spaced_training_images_once():
    config = {"name": "photos", "scale": 96, "tile": 32, "image_size": 16}
    dataset = load_dataset(config)
    bins = color.ab_bins()
    counts = color.ab_bin_counts(dataset, max_images=7)
    assert counts.dtype == np.int64 and counts.shape == (len(bins),)
    assert counts.sum() == 7 * 16 * 16  # Every pixel of 7 central 16 x 16 crops.
    # By hand: the central crops of the tiles at 7 evenly spaced indices, all pixels at once.
    index = np.linspace(0, len(dataset.train) - 1, 7).astype(int)
    tiles = dataset.train.arrays["image"][index][:, 8:24, 8:24]  # [7, 16, 16, 3]
    ab = color.rgb_to_lab(tiles.reshape(-1, 16, 3))[..., 1:].reshape(-1, 2)
    expected = np.bincount(color.nearest_bin(ab, bins), minlength=len(bins))
    np.testing.assert_array_equal(counts, expected)
    # Cached per data config: an equal config's Dataset reads no image again.
    assert color.ab_bin_counts(load_dataset(dict(config)), max_images=7) is counts
    assert color.ab_bin_counts(dataset, max_images=3).sum() == 3 * 16 * 16


def test_photos_split_by_photo_into_colour_tiles():
    train = build_source({"name": "photos", "scale": 96, "tile": 32}, "train")
    test = build_source({"name": "photos", "scale": 96, "tile": 32}, "eval")
    for source in (train, test):
        assert source.arrays["image"].shape[1:] == (32, 32, 3)
        assert source.arrays["image"].dtype == np.uint8
    names = list(photos.PHOTOS)
    held_out = {names[i] for i in np.unique(test.arrays["label"])}
    assert held_out == set(photos.EVAL_PHOTOS)
    assert not held_out & {names[i] for i in np.unique(train.arrays["label"])}
    # A 96 x 144 photo gives 3 x 4 tiles; the first is its top-left corner.
    chelsea = photos.load_photo("chelsea")
    assert np.sum(test.arrays["label"] == names.index("chelsea")) == 3 * 4
    assert chelsea.shape == (300, 451, 3)
    np.testing.assert_array_equal(
        build_source({"name": "photos", "scale": 96, "tile": 32}, "eval").arrays["image"],
        test.arrays["image"],
    )


def test_region_holdout_keeps_the_right_quarter_of_every_photo_for_eval():
    config = {"name": "photos", "scale": 96, "tile": 32, "holdout": "region"}
    train, test = build_source(config, "train"), build_source(config, "eval")
    names = list(photos.PHOTOS)
    assert set(np.unique(test.arrays["label"])) == set(range(len(names)))
    # chelsea: 3 x 4 tiles, column 3 held out; its first eval tile is row 0, column 3.
    chelsea = names.index("chelsea")
    assert np.sum(test.arrays["label"] == chelsea) == 3
    assert np.sum(train.arrays["label"] == chelsea) == 9
    tiles = photos._tiles(photos.load_photo("chelsea"), scale=96, tile=32)
    np.testing.assert_array_equal(
        test.arrays["image"][test.arrays["label"] == chelsea][0], tiles[0, 3]
    )
    # No tile is in both splits.
    flat = lambda s: {t.tobytes() for t in s.arrays["image"]}  # noqa: E731
    assert not flat(train) & flat(test)


def test_bad_photo_arguments():
    with pytest.raises(ValueError, match="not bundled"):
        photos.photos("train", eval_photos=("mona_lisa",))
    with pytest.raises(ValueError, match="holdout"):
        photos.photos("train", holdout="random")
    with pytest.raises(ValueError, match="tile"):
        photos.photos("train", scale=16, tile=32)
