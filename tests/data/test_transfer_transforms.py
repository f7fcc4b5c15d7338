"""Image transforms added for reconstruction pretraining and its transfer: digits upsampled,
photo tiles cropped, VOC's class sets as k-hot tags, ImageNet left unstandardised for Lab."""

import numpy as np

from jaxpretrain.data import make_image_transform, normalize


def test_digits_upsampled_to_image_size():
    transform = make_image_transform({"name": "digits", "image_size": 32}, train=True)
    image = np.zeros((8, 8, 1), np.float32)
    image[2:6, 3] = 1.0
    out = transform({"image": image, "label": np.int32(3)}, np.random.default_rng(0))
    assert out["image"].shape == (32, 32, 1) and out["label"] == 3
    assert 0.0 <= out["image"].min() and out["image"].max() <= 1.0
    assert out["image"][16, 13] > 0.5 and out["image"][16, 0] == 0.0  # The stroke, scaled 4x.


def test_photo_tiles_are_cropped_at_random_for_training_and_centrally_for_eval():
    tile = np.random.default_rng(0).integers(0, 256, (40, 40, 3), np.uint8)
    example = {"image": tile, "label": np.int32(0)}
    config = {"name": "photos", "image_size": 32}
    central = make_image_transform(config, train=False)(example, np.random.default_rng(0))
    np.testing.assert_array_equal(central["image"], normalize(tile[4:36, 4:36]))
    train = make_image_transform(config, train=True)
    crops = [train(example, np.random.default_rng(seed))["image"] for seed in range(4)]
    assert all(c.shape == (32, 32, 3) for c in crops)
    assert len({c.tobytes() for c in crops}) > 1


def test_voc_class_sets_become_k_hot_tags():
    transform = make_image_transform(
        {"name": "tfds:voc/2007", "num_classes": 20, "image_size": 16}, train=False
    )
    image = np.full((30, 50, 3), 128, np.uint8)
    out = transform({"image": image, "labels": np.array([14, 2, 14])}, np.random.default_rng(0))
    expected = np.zeros(20, np.float32)
    expected[[2, 14]] = 1.0
    np.testing.assert_array_equal(out["tags"], expected)
    assert out["image"].shape == (16, 16, 3) and "label" not in out


def test_imagenet_can_stay_in_zero_one_for_colorization():
    image = np.random.default_rng(0).integers(0, 256, (40, 40, 3), np.uint8)
    config = {"name": "tfds:imagenet2012", "image_size": 32, "standardize": False}
    out = make_image_transform(config, train=False)({"image": image, "label": 1}, None)
    assert 0.0 <= out["image"].min() and out["image"].max() <= 1.0
    standardized = make_image_transform({**config, "standardize": True}, train=False)
    assert standardized({"image": image, "label": 1}, None)["image"].min() < 0.0
