"""Inpainting masks: which pixels a context encoder must fill (Pathak et al. 2016, Sec. 3.3).

The paper's three region shapes, as host-side numpy over one image (1 = missing pixel):
- ``central_square``: a centred square (64 of 128 pixels in the paper);
- ``random_blocks``: several smaller, possibly overlapping squares at random places, added until
  they cover a target fraction of the image (the paper's "random block", up to 1/4);
- ``random_regions``: irregular regions covering that fraction. The paper cuts out PASCAL VOC
  object silhouettes; offline we threshold a smooth random field (low-resolution noise, bilinearly
  upsampled) at its (1 − coverage) quantile, which gives blob-like shapes of similar sizes.

Every function returns float32 [H, W] in {0, 1} and draws only from the given
``np.random.Generator``, so a mask is a pure function of the batch iterator's seed.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from jaxpretrain.errors import DataError

KINDS = ("central", "blocks", "regions")


def _check_size(height: int, width: int, size: int, fn: str) -> None:
    if not 0 < size <= min(height, width):
        raise DataError(
            f"{fn}: mask size {size} does not fit the {height}x{width} image; use a size in "
            f"[1, {min(height, width)}] (config.mask.size)."
        )


def central_square(height: int, width: int, *, size: int) -> np.ndarray:
    """A ``size`` x ``size`` square at the centre: float32 [height, width], 1 inside."""
    _check_size(height, width, size, "central_square")
    mask = np.zeros((height, width), np.float32)
    top, left = (height - size) // 2, (width - size) // 2
    mask[top : top + size, left : left + size] = 1.0
    return mask


def _check_coverage(coverage: float, fn: str) -> None:
    if not 0.0 < coverage < 1.0:
        raise DataError(f"{fn}: coverage must be in (0, 1), got {coverage} (config.mask.coverage).")


def random_blocks(
    height: int, width: int, rng: np.random.Generator, *, size: int, coverage: float = 0.25
) -> np.ndarray:
    """Squares of side in [size/2, size] at uniform positions until ``coverage`` is reached.

    Args:
      height, width: image size.
      rng: draws each block's side and position.
      size: largest block side.
      coverage: fraction of the image to remove (at least; the last block may overshoot).

    Returns:
      float32 [height, width] in {0, 1}.
    """
    _check_size(height, width, size, "random_blocks")
    _check_coverage(coverage, "random_blocks")
    mask = np.zeros((height, width), np.float32)
    while mask.mean() < coverage:
        side = int(rng.integers(max(size // 2, 1), size + 1))
        top = int(rng.integers(0, height - side + 1))
        left = int(rng.integers(0, width - side + 1))
        mask[top : top + side, left : left + side] = 1.0
    return mask


def random_regions(
    height: int, width: int, rng: np.random.Generator, *, size: int, coverage: float = 0.25
) -> np.ndarray:
    """Irregular blobs covering ``coverage`` of the image, of a scale set by ``size``.

    A field of uniform noise with one value per ``size`` x ``size`` cell is bilinearly upsampled to
    the image and thresholded at its (1 − coverage) quantile.

    Args:
      height, width: image size.
      rng: draws the noise.
      size: the blobs' typical diameter in pixels.
      coverage: fraction of the image to remove.

    Returns:
      float32 [height, width] in {0, 1}.
    """
    _check_size(height, width, size, "random_regions")
    _check_coverage(coverage, "random_regions")
    cells = (max(height // size, 1) + 1, max(width // size, 1) + 1)
    noise = rng.random(cells).astype(np.float32)
    field = np.asarray(Image.fromarray(noise, "F").resize((width, height), Image.BILINEAR))
    return (field >= np.quantile(field, 1.0 - coverage)).astype(np.float32)


def make_mask(
    kind: str,
    height: int,
    width: int,
    rng: np.random.Generator,
    *,
    size: int,
    coverage: float = 0.25,
) -> np.ndarray:
    """The mask ``kind`` ("central", "blocks" or "regions") for an image: float32 [H, W]."""
    if kind == "central":
        return central_square(height, width, size=size)
    if kind == "blocks":
        return random_blocks(height, width, rng, size=size, coverage=coverage)
    if kind == "regions":
        return random_regions(height, width, rng, size=size, coverage=coverage)
    raise DataError(f"unknown mask kind {kind!r}; config.mask.kind must be one of {KINDS}.")
