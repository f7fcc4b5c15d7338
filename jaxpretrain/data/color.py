"""CIE Lab colour on the host, and the quantised ab space of colorization as classification.

- ``rgb_to_lab`` / ``lab_to_rgb``: scikit-image's sRGB (D65) <-> CIE L*a*b* conversion, checked
  for colour images: a grayscale image has no colour to predict, and is a one-line error.
- ``ab_bins``: the in-gamut cells of a grid over the ab plane (Zhang et al. 2016, "Colorful Image
  Colorization", Sec. 2.1: grid size 10 gives their Q = 313 bins): the cells that some sRGB
  colour falls into, found by converting a dense sample of the sRGB cube.
- ``ab_bin_counts``: how many of a data set's training pixels fall nearest each bin (cached per
  data config), the statistic class rebalancing needs;
- ``rebalancing_weights``: class rebalancing (Zhang et al. Eq. 3-4): w ∝ ((1 − λ) p̃ + λ/Q)⁻¹,
  normalised so that E_p̃[w] = 1, where p̃ is the empirical distribution of the training pixels
  over the bins (their counts) smoothed with a Gaussian (σ = 5), and λ = 1/2.

Host-side numpy (scikit-image); ``methods.colorization`` has the jnp conversion used for
pictures, tested against these.
"""

from __future__ import annotations

import functools

import numpy as np

from jaxpretrain.data.base import Dataset
from jaxpretrain.data.images import make_image_transform
from jaxpretrain.errors import DataError

GRID = 10.0  # ab bin width (Zhang et al.).


def _check_rgb(image: np.ndarray, fn: str) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[-1] != 3:
        raise DataError(
            f"{fn}: colorization needs colour images [H, W, 3], got shape {image.shape}; a "
            "grayscale image has no colour to predict (use an RGB data set)."
        )
    return image


def rgb_to_lab(image: np.ndarray) -> np.ndarray:
    """sRGB -> CIE Lab (D65): [H, W, 3] in [0, 1] (float) or 0..255 (uint8) -> float32 [H, W, 3],
    L in [0, 100], a and b roughly in [-110, 110]."""
    # Imported when first needed: scikit-image is slow to import and only colour code uses it.
    from skimage.color import rgb2lab  # pylint: disable=import-outside-toplevel

    image = _check_rgb(image, "rgb_to_lab")
    if np.issubdtype(image.dtype, np.integer):
        image = image.astype(np.float32) / 255.0
    return rgb2lab(np.clip(image, 0.0, 1.0)).astype(np.float32)


def lab_to_rgb(lab: np.ndarray) -> np.ndarray:
    """CIE Lab (D65) -> sRGB: float [H, W, 3] -> float32 [H, W, 3] in [0, 1] (clipped)."""
    # Imported when first needed, as in rgb_to_lab.
    from skimage.color import lab2rgb  # pylint: disable=import-outside-toplevel

    lab = _check_rgb(lab, "lab_to_rgb")
    return np.clip(lab2rgb(lab.astype(np.float64)), 0.0, 1.0).astype(np.float32)


@functools.lru_cache(maxsize=4)
def ab_bins(grid: float = GRID) -> np.ndarray:
    """Centres of the in-gamut ab cells: float32 [Q, 2], sorted by (a, b)."""
    steps = np.linspace(0.0, 1.0, 48)
    cube = np.stack(np.meshgrid(steps, steps, steps, indexing="ij"), -1).reshape(1, -1, 3)
    ab = rgb_to_lab(cube)[0, :, 1:]  # [48³, 2]
    cells = np.unique(np.floor(ab / grid + 0.5).astype(np.int64), axis=0)  # Nearest centre.
    centres = (cells * grid).astype(np.float32)
    centres.setflags(write=False)
    return centres


def nearest_bin(ab: np.ndarray, bins: np.ndarray) -> np.ndarray:
    """Index of the nearest bin centre: float [..., 2], [Q, 2] -> int32 [...].

    ``bins`` on a grid of spacing g (as ``ab_bins(g)`` gives): the nearest centre of a value is
    its rounded cell when that cell is a bin; values whose cell is not one are searched for.
    """
    ab = np.asarray(ab, np.float32)
    flat = ab.reshape(-1, 2)
    grid = float(np.min(np.diff(np.unique(bins[:, 0])))) if len(bins) > 1 else 1.0
    cells = np.round(bins / grid).astype(np.int64)
    low = cells.min(0)
    table = np.full(tuple(cells.max(0) - low + 1), -1, np.int32)
    table[tuple((cells - low).T)] = np.arange(len(bins))
    index = np.round(flat / grid).astype(np.int64) - low
    inside = np.all((index >= 0) & (index < table.shape), axis=-1)
    out = np.full(len(flat), -1, np.int32)
    out[inside] = table[tuple(index[inside].T)]
    missing = np.flatnonzero(out < 0)
    if len(missing):  # Out of the table or of the gamut: the nearest centre by distance.
        distances = np.sum((flat[missing, None, :] - bins) ** 2, axis=-1)  # [n, Q]
        out[missing] = np.argmin(distances, axis=-1)
    return out.reshape(ab.shape[:-1])


def soft_encode(
    ab: np.ndarray, bins: np.ndarray, *, neighbours: int = 5, sigma: float = 5.0
) -> tuple[np.ndarray, np.ndarray]:
    """Zhang et al.'s soft encoding of each ab value over its ``neighbours`` nearest bins.

    Args:
      ab: float [..., 2].
      bins: float [Q, 2] bin centres.
      neighbours: K, the bins that share each value (5 in the paper).
      sigma: width of the Gaussian weights exp(−d²/2σ²), in ab units.

    Returns:
      (int32 [..., K] bin indices, nearest first; float32 [..., K] weights summing to 1).
    """
    ab = np.asarray(ab, np.float32)
    flat = ab.reshape(-1, 2)
    distances = np.sum((flat[:, None, :] - bins) ** 2, axis=-1)  # [n, Q]
    index = np.argpartition(distances, neighbours - 1, axis=-1)[:, :neighbours]
    nearest = np.take_along_axis(distances, index, -1)
    order = np.argsort(nearest, axis=-1)
    index, nearest = np.take_along_axis(index, order, -1), np.take_along_axis(nearest, order, -1)
    weights = np.exp(-(nearest - nearest[:, :1]) / (2.0 * sigma**2))  # Shifted: no underflow.
    weights /= weights.sum(-1, keepdims=True)
    shape = ab.shape[:-1] + (neighbours,)
    return index.astype(np.int32).reshape(shape), weights.astype(np.float32).reshape(shape)


def rebalancing_weights(
    counts: np.ndarray, bins: np.ndarray, *, sigma: float = 5.0, mix: float = 0.5
) -> np.ndarray:
    """Zhang et al.'s class-rebalancing weight of every bin.

    Args:
      counts: int [Q], the training pixels (or a sample of them) nearest each bin
        (``ab_bin_counts``; ``np.bincount(nearest_bin(ab, bins), minlength=Q)``).
      bins: float [Q, 2] bin centres.
      sigma: width of the Gaussian that smooths the empirical distribution, in ab units.
      mix: λ, the weight of the uniform distribution mixed in.

    Returns:
      float32 [Q], w_q ∝ ((1 − λ) p̃_q + λ/Q)⁻¹ with Σ_q p̃_q w_q = 1.
    """
    q = len(bins)
    counts = np.asarray(counts).astype(np.float64)
    if counts.shape != (q,):
        raise DataError(f"rebalancing_weights: counts must have shape [{q}], got {counts.shape}.")
    distances = np.sum((bins[:, None, :] - bins[None, :, :]) ** 2, axis=-1)  # [Q, Q]
    kernel = np.exp(-distances / (2.0 * sigma**2))
    smoothed = kernel @ (counts / counts.sum())
    smoothed /= smoothed.sum()
    weights = 1.0 / ((1.0 - mix) * smoothed + mix / q)
    return (weights / np.sum(smoothed * weights)).astype(np.float32)


@functools.lru_cache(maxsize=8)
def ab_bin_counts(dataset: Dataset, *, max_images: int) -> np.ndarray:
    """How many training pixels fall nearest each of the ``ab_bins()``: int64 [Q].

    Reads up to ``max_images`` images of ``dataset.train``, evenly spaced through it, each through
    the data config's deterministic evaluation transform (central crops). Cached per data config
    and ``max_images`` (a `Dataset` hashes by its config), so building a run's train and eval
    preprocessing, or two runs on the same data, reads the images once.
    """
    source, bins = dataset.train, ab_bins()
    transform = make_image_transform(dataset.config, train=False)
    rng = np.random.default_rng(0)  # Evaluation transforms draw nothing, but take a generator.
    counts = np.zeros(len(bins), np.int64)
    count = min(len(source), max_images)
    for i in np.linspace(0, len(source) - 1, count).astype(int):
        ab = rgb_to_lab(transform(source[int(i)], rng)["image"])[..., 1:]  # [H, W, 2]
        counts += np.bincount(nearest_bin(ab, bins).ravel(), minlength=len(bins))
    counts.setflags(write=False)
    return counts
