"""Colour photos that need no download: the ones scikit-image and scikit-learn ship.

``photos(split)`` cuts every photo, resized so its shorter side is ``scale`` pixels, into
non-overlapping ``tile`` x ``tile`` squares. Two deterministic splits, neither of which lets an
evaluation pixel be seen in training:
- ``holdout="photos"``: whole photos are held out for "test" (by default a cat and a flower): new
  scenes, a hard test for eight photos' worth of training colours;
- ``holdout="region"``: the right quarter of every photo (its last quarter of tile columns) is
  "test", the rest "train": new parts of the same scenes.
Training crops smaller squares out of the tiles at random (``images.make_image_transform``,
name "photos"), evaluation takes their centres.

Host-side numpy only.
"""

from __future__ import annotations

import functools
from typing import Sequence

import numpy as np
from PIL import Image

from jaxpretrain.data.base import ArraySource
from jaxpretrain.errors import DataError

# name -> where it comes from; every one is a natural colour photograph.
PHOTOS = {
    "astronaut": "skimage",
    "coffee": "skimage",
    "rocket": "skimage",
    "hubble_deep_field": "skimage",
    "immunohistochemistry": "skimage",
    "china": "sklearn",
    "chelsea": "skimage",
    "flower": "sklearn",
}
EVAL_PHOTOS = ("chelsea", "flower")


@functools.lru_cache(maxsize=None)
def load_photo(name: str) -> np.ndarray:
    """The bundled photo ``name``: uint8 [H, W, 3]."""
    if name not in PHOTOS:
        raise DataError(f"unknown photo {name!r}; the bundled photos are {sorted(PHOTOS)}.")
    # Imported when first needed: scikit-learn and scikit-image are slow to import.
    if PHOTOS[name] == "sklearn":
        from sklearn.datasets import load_sample_image  # pylint: disable=import-outside-toplevel

        image = load_sample_image(f"{name}.jpg")
    else:
        import skimage.data  # pylint: disable=import-outside-toplevel

        image = getattr(skimage.data, name)()
    return np.ascontiguousarray(image[..., :3], np.uint8)


def _tiles(image: np.ndarray, *, scale: int, tile: int) -> np.ndarray:
    """[H, W, 3] -> uint8 [rows, cols, tile, tile, 3] after resizing the shorter side to scale."""
    h, w = image.shape[:2]
    nh, nw = (scale, round(w * scale / h)) if h <= w else (round(h * scale / w), scale)
    resized = np.asarray(Image.fromarray(image).resize((nw, nh), Image.BILINEAR))
    rows, cols = nh // tile, nw // tile
    grid = resized[: rows * tile, : cols * tile].reshape(rows, tile, cols, tile, 3)
    return grid.transpose(0, 2, 1, 3, 4)


def photos(
    split: str,
    *,
    scale: int = 256,
    tile: int = 40,
    holdout: str = "photos",
    eval_photos: Sequence[str] = EVAL_PHOTOS,
) -> ArraySource:
    """Tiles of the bundled colour photos.

    Args:
      split: "train" or "test".
      scale: the shorter side of each photo after resizing, in pixels.
      tile: side of the square tiles.
      holdout: "photos" (``eval_photos`` are "test", the others "train") or "region" (the last
        quarter of every photo's tile columns is "test", the rest "train").
      eval_photos: names of the held-out photos (keys of ``PHOTOS``) for holdout="photos".

    Returns:
      ArraySource with "image": uint8 [N, tile, tile, 3] and "label": int32 [N], the index of the
      tile's photo in ``PHOTOS``.
    """
    if split not in ("train", "test"):
        raise DataError(f"photos split must be 'train' or 'test', got {split!r}.")
    if holdout not in ("photos", "region"):
        raise DataError(f"photos holdout must be 'photos' or 'region', got {holdout!r}.")
    unknown = set(eval_photos) - set(PHOTOS)
    if unknown:
        raise DataError(
            f"eval_photos {sorted(unknown)} are not bundled; pick from {sorted(PHOTOS)}."
        )
    if not 0 < tile <= scale:
        raise DataError(f"photos: tile ({tile}) must be in [1, scale ({scale})].")
    images, labels = [], []
    for label, name in enumerate(PHOTOS):
        grid = _tiles(load_photo(name), scale=scale, tile=tile)  # [rows, cols, tile, tile, 3]
        if holdout == "photos":
            if (name in eval_photos) != (split == "test"):
                continue
        else:
            first_test = grid.shape[1] - max(grid.shape[1] // 4, 1)
            grid = grid[:, first_test:] if split == "test" else grid[:, :first_test]
        tiles = grid.reshape(-1, tile, tile, 3)
        images.append(tiles)
        labels.append(np.full(len(tiles), label, np.int32))
    return ArraySource({"image": np.concatenate(images), "label": np.concatenate(labels)})
