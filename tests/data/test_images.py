"""Tests for jaxpretrain.data.images: crops, flips, normalisation and the per-config transforms."""

import numpy as np
import pytest
from PIL import Image

from jaxpretrain.data import images


def _image(h=20, w=30, c=3, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(h, w, c), dtype=np.uint8)


def test_normalize_scales_and_standardises():
    img = np.array([[[0, 255, 51]]], np.uint8)
    out = images.normalize(img)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [[[0.0, 1.0, 0.2]]], atol=1e-7)
    np.testing.assert_allclose(images.normalize(out), out)  # floats are taken as [0, 1] already
    std = images.normalize(img, images.IMAGENET_MEAN, images.IMAGENET_STD)
    expected = (np.array([0.0, 1.0, 0.2]) - images.IMAGENET_MEAN) / images.IMAGENET_STD
    np.testing.assert_allclose(std[0, 0], expected, rtol=1e-6)


def test_random_crop_flip_is_a_window_of_the_reflect_padded_image():
    img, pad = _image(8, 10, 3), 2
    padded = np.pad(img, ((pad, pad), (pad, pad), (0, 0)), mode="reflect")
    windows = {}
    for top in range(2 * pad + 1):
        for left in range(2 * pad + 1):
            win = padded[top : top + 8, left : left + 10]
            windows[win.tobytes()] = False
            windows[win[:, ::-1].tobytes()] = True
    flips = set()
    for seed in range(40):
        out = images.random_crop_flip(img, np.random.default_rng(seed), pad=pad)
        assert out.shape == img.shape and out.dtype == img.dtype
        assert out.tobytes() in windows
        flips.add(windows[out.tobytes()])
        again = images.random_crop_flip(img, np.random.default_rng(seed), pad=pad)
        np.testing.assert_array_equal(out, again)
    assert flips == {True, False}
    np.testing.assert_array_equal(
        images.random_crop_flip(img, np.random.default_rng(0), pad=0, flip=False), img
    )
    with pytest.raises(ValueError, match="pad"):
        images.random_crop_flip(img, np.random.default_rng(0), pad=8)


def test_random_resized_crop_shape_determinism_and_fallback():
    img = _image(20, 30, 3)
    outs = [images.random_resized_crop(img, np.random.default_rng(s), size=16) for s in range(5)]
    for out in outs:
        assert out.shape == (16, 16, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(
        outs[0], images.random_resized_crop(img, np.random.default_rng(0), size=16)
    )
    assert any(not np.array_equal(outs[0], o) for o in outs[1:])
    # An impossible area forces the fallback: the central crop with the aspect ratio clamped to
    # 4/3 (30 / 20 is wider), i.e. columns 1..28, resized.
    fallback = images.random_resized_crop(img, np.random.default_rng(0), size=16, scale=(2.0, 3.0))
    expected = np.asarray(Image.fromarray(img[:, 1:28]).resize((16, 16), Image.BILINEAR))
    np.testing.assert_array_equal(fallback, expected)
    grey = images.random_resized_crop(_image(12, 12, 1), np.random.default_rng(0), size=5)
    assert grey.shape == (5, 5, 1)


def test_center_crop():
    img = _image(64, 80, 3)
    # Shorter side already size / 0.875 = 64: no resize, just the central window.
    np.testing.assert_array_equal(images.center_crop(img, size=56), img[4:60, 12:68])
    out = images.center_crop(_image(20, 37, 3), size=32)
    assert out.shape == (32, 32, 3) and out.dtype == np.uint8


def test_digits_transform_keeps_image_label_tags_only():
    ex = {
        "image": np.full((8, 8, 1), 0.5, np.float32),
        "label": np.int64(3),
        "tags": np.array([1, 0], np.float32),
        "id": "x",
    }
    out = images.make_image_transform({"name": "digits_hashtags"}, train=True)(
        ex, np.random.default_rng(0)
    )
    assert set(out) == {"image", "label", "tags"}
    np.testing.assert_array_equal(out["image"], ex["image"])
    assert out["label"].dtype == np.int32 and out["label"] == 3
    assert out["tags"].dtype == np.float32


def test_cifar_transform_augments_only_in_training():
    ex = {"image": _image(32, 32, 3), "label": np.int64(7), "id": "a"}
    cfg = {"name": "tfds:cifar10"}
    train = images.make_image_transform(cfg, train=True)
    evaluation = images.make_image_transform(cfg, train=False)
    a = train(ex, np.random.default_rng(0))
    assert a["image"].shape == (32, 32, 3) and a["image"].dtype == np.float32
    np.testing.assert_array_equal(a["image"], train(ex, np.random.default_rng(0))["image"])
    assert any(
        not np.array_equal(a["image"], train(ex, np.random.default_rng(s))["image"])
        for s in range(1, 4)
    )
    expected = images.normalize(ex["image"], images.CIFAR10_MEAN, images.CIFAR10_STD)
    np.testing.assert_array_equal(evaluation(ex, np.random.default_rng(1))["image"], expected)
    off = images.make_image_transform({**cfg, "augment": False}, train=True)
    np.testing.assert_array_equal(off(ex, np.random.default_rng(1))["image"], expected)


def test_imagenet_transform_sizes():
    ex = {"image": _image(50, 70, 3), "label": np.int64(999), "file_name": "f"}
    default = images.make_image_transform({"name": "tfds:imagenet2012"}, train=False)
    assert default(ex, np.random.default_rng(0))["image"].shape == (224, 224, 3)
    cfg = {"name": "tfds:imagenet2012", "image_size": 24}
    train = images.make_image_transform(cfg, train=True)
    evaluation = images.make_image_transform(cfg, train=False)
    out = train(ex, np.random.default_rng(0))
    assert out["image"].shape == (24, 24, 3) and set(out) == {"image", "label"}
    e0 = evaluation(ex, np.random.default_rng(0))["image"]
    np.testing.assert_array_equal(e0, evaluation(ex, np.random.default_rng(1))["image"])
    with pytest.raises(ValueError, match="Unknown"):
        images.make_image_transform({"name": "nope"}, train=True)
