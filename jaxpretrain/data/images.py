"""Per-example image preprocessing on the host: crops, flips, resizing and normalisation.

Every function is a pure function of one image and, where random, a `np.random.Generator`; the
batch iterator seeds that generator from `(seed, global example index)`, so augmentation is
reproducible and resumable. Images are `[H, W, C]` numpy arrays.

- `random_crop_flip`: the CIFAR-10 augmentation of He et al. 2016, "Deep Residual Learning for
  Image Recognition", Sec. 4.2: pad 4 pixels, take a random 32x32 crop, flip horizontally at
  random (we pad by reflection rather than with zeros).
- `random_resized_crop`: the Inception crop of Szegedy et al. 2015, "Going Deeper with
  Convolutions", Sec. 6: a random patch covering 8%-100% of the area with aspect ratio in
  [3/4, 4/3], resized to the network's input size.
- `center_crop`: the standard ImageNet evaluation view: resize the shorter side to
  size / 0.875, then take the central size x size crop.
- `make_image_transform`: picks the recipe for a data config (digits, cifar10, imagenet2012).

Host-side numpy (and PIL for resizing) only; jax arrays are made elsewhere.
"""

from __future__ import annotations

import functools
import math
from typing import Any, Callable, Sequence

import numpy as np
from PIL import Image

from jaxpretrain.data.base import field
from jaxpretrain.errors import DataError

# Per-channel RGB statistics of the training sets, in [0, 1] units.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)

Transform = Callable[[dict, np.random.Generator], dict]


def _check_image(image: np.ndarray, fn: str) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim != 3:
        raise DataError(f"{fn}: image must be [H, W, C], got shape {image.shape}.")
    return image


def normalize(
    image: np.ndarray, mean: Sequence[float] | None = None, std: Sequence[float] | None = None
) -> np.ndarray:
    """Scales an image to [0, 1], then standardises it per channel if `mean`/`std` are given.

    Args:
        image: [..., C] integer pixels in 0..255 (divided by 255) or floats already in [0, 1].
        mean: per-channel mean [C] (or a scalar) in [0, 1] units, subtracted if given.
        std: per-channel standard deviation [C] (or a scalar), divided by if given.

    Returns:
        float32, the shape of `image`.
    """
    image = np.asarray(image)
    if np.issubdtype(image.dtype, np.integer):
        x = image.astype(np.float32) / np.float32(255.0)
    else:
        x = image.astype(np.float32)
    if mean is not None:
        x = x - np.asarray(mean, np.float32)
    if std is not None:
        x = x / np.asarray(std, np.float32)
    return x


def _resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear (antialiased when shrinking) resize: [H, W, C] -> [height, width, C], same dtype."""
    if image.shape[:2] == (height, width):
        return image
    if image.dtype == np.uint8 and image.shape[-1] == 3:
        return np.asarray(Image.fromarray(image).resize((width, height), Image.BILINEAR))
    # Any other channel count or dtype: one PIL call per channel, uint8 as "L", else as float "F".
    mode_dtype = np.uint8 if image.dtype == np.uint8 else np.float32
    channels = [
        np.asarray(
            Image.fromarray(np.ascontiguousarray(image[..., c], mode_dtype)).resize(
                (width, height), Image.BILINEAR
            )
        )
        for c in range(image.shape[-1])
    ]
    return np.stack(channels, axis=-1).astype(image.dtype)


def random_crop_flip(
    image: np.ndarray, rng: np.random.Generator, *, pad: int, flip: bool = True
) -> np.ndarray:
    """Reflect-pads by `pad`, crops a random window of the original size, flips it at random.

    Args:
        image: [H, W, C], any dtype; `pad` must be smaller than H and W.
        rng: draws the crop offset, then (if `flip`) whether to flip left-right.
        pad: pixels added on every side before cropping.
        flip: whether to flip horizontally with probability 1/2.

    Returns:
        [H, W, C], the dtype of `image`.
    """
    image = _check_image(image, "random_crop_flip")
    h, w = image.shape[:2]
    if not 0 <= pad < min(h, w):
        raise DataError(f"random_crop_flip: pad must be in [0, {min(h, w)}), got {pad}.")
    padded = np.pad(image, ((pad, pad), (pad, pad), (0, 0)), mode="reflect")
    top, left = rng.integers(0, 2 * pad + 1, size=2)
    out = padded[top : top + h, left : left + w]
    if flip and rng.random() < 0.5:
        out = out[:, ::-1]
    return np.ascontiguousarray(out)


def random_resized_crop(
    image: np.ndarray,
    rng: np.random.Generator,
    *,
    size: int,
    scale: tuple[float, float] = (0.08, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
) -> np.ndarray:
    """Inception-style crop: a random area fraction and aspect ratio, resized to size x size.

    Tries 10 times to draw an area fraction uniformly in `scale` and a log-uniform aspect ratio
    (width / height) in `ratio` that fits in the image; if none fits, takes the central crop with
    the image's aspect ratio clamped into `ratio`.

    Args:
        image: [H, W, C] uint8 (float32 also works).
        rng: draws the area, the aspect ratio and the position.
        size: output height and width.
        scale: range of the crop's area as a fraction of the image's.
        ratio: range of the crop's aspect ratio.

    Returns:
        [size, size, C], the dtype of `image`.
    """
    image = _check_image(image, "random_resized_crop")
    h, w = image.shape[:2]
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        area = h * w * rng.uniform(*scale)
        aspect = math.exp(rng.uniform(*log_ratio))
        cw = int(round(math.sqrt(area * aspect)))
        ch = int(round(math.sqrt(area / aspect)))
        if 0 < cw <= w and 0 < ch <= h:
            top = int(rng.integers(0, h - ch + 1))
            left = int(rng.integers(0, w - cw + 1))
            return _resize(image[top : top + ch, left : left + cw], size, size)
    if w / h < ratio[0]:
        cw, ch = w, min(h, int(round(w / ratio[0])))
    elif w / h > ratio[1]:
        cw, ch = min(w, int(round(h * ratio[1]))), h
    else:
        cw, ch = w, h
    top, left = (h - ch) // 2, (w - cw) // 2
    return _resize(image[top : top + ch, left : left + cw], size, size)


def center_crop(image: np.ndarray, *, size: int, crop_fraction: float = 0.875) -> np.ndarray:
    """Resizes the shorter side to `size / crop_fraction`, then takes the central size x size.

    Args:
        image: [H, W, C] uint8 (float32 also works).
        size: output height and width.
        crop_fraction: fraction of the resized shorter side the crop keeps (0.875: 224 of 256).

    Returns:
        [size, size, C], the dtype of `image`.
    """
    image = _check_image(image, "center_crop")
    h, w = image.shape[:2]
    short = max(size, int(round(size / crop_fraction)))
    nh = max(size, int(round(h * short / min(h, w))))
    nw = max(size, int(round(w * short / min(h, w))))
    resized = _resize(image, nh, nw)
    top, left = (nh - size) // 2, (nw - size) // 2
    return resized[top : top + size, left : left + size]


# The per-image recipes. Module-level functions (bound with functools.partial) keep the
# transforms picklable, should grain run them in worker processes.
def _as_float(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    del rng
    return normalize(image)


def _resized_float(image: np.ndarray, rng: np.random.Generator, *, size: int) -> np.ndarray:
    """Digits upsampled (bilinear) to size x size for networks that halve the resolution often."""
    del rng
    return _resize(normalize(image), size, size)


def _photo_crop(
    image: np.ndarray, rng: np.random.Generator, *, augment: bool, size: int
) -> np.ndarray:
    """A size x size crop of a photo tile: random position and flip for training, else central."""
    image = _check_image(image, "photos")
    h, w = image.shape[:2]
    if size > min(h, w):
        raise DataError(f"photos: image_size {size} exceeds the {h}x{w} tiles; lower it.")
    top, left = ((h - size) // 2, (w - size) // 2)
    if augment:
        top, left = int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1))
    image = image[top : top + size, left : left + size]
    if augment and rng.random() < 0.5:
        image = image[:, ::-1]
    return normalize(image)


def _cifar(image: np.ndarray, rng: np.random.Generator, *, augment: bool) -> np.ndarray:
    if augment:
        image = random_crop_flip(image, rng, pad=4)
    return normalize(image, CIFAR10_MEAN, CIFAR10_STD)


def _imagenet(
    image: np.ndarray,
    rng: np.random.Generator,
    *,
    augment: bool,
    size: int,
    standardize: bool = True,
) -> np.ndarray:
    if augment:
        image = random_resized_crop(image, rng, size=size)
        if rng.random() < 0.5:
            image = image[:, ::-1]
    else:
        image = center_crop(image, size=size)
    if not standardize:  # Colorization converts [0, 1] RGB to Lab itself.
        return normalize(image)
    return normalize(image, IMAGENET_MEAN, IMAGENET_STD)


def _apply(
    example: dict, rng: np.random.Generator, *, image_fn: Callable, num_tags: int = 0
) -> dict[str, Any]:
    out = {"image": np.ascontiguousarray(image_fn(np.asarray(example["image"]), rng), np.float32)}
    if "label" in example:
        out["label"] = np.asarray(example["label"], np.int32)
    if "tags" in example:
        out["tags"] = np.asarray(example["tags"], np.float32)
    elif "labels" in example:  # A set of class ids per image (voc): k-hot tags [num_tags].
        tags = np.zeros(num_tags, np.float32)
        tags[np.asarray(example["labels"], np.int64)] = 1.0
        out["tags"] = tags
    return out


def make_image_transform(data_config: Any, *, train: bool) -> Transform:
    """The per-example transform for a data config (see `registry.DATASETS` for names).

    - "digits", "digits_hashtags": images are already float32 in [0, 1]; nothing random.
      With `data_config.image_size` other than 8, digits are bilinearly upsampled to that size.
    - "photos": uint8 tiles of the bundled photos; train: a random `image_size` crop (default 32)
      and a random flip; eval: the central crop; then scaled to [0, 1].
    - "tfds:cifar10": train: `random_crop_flip(pad=4)`; then CIFAR-10 mean/std normalisation.
    - "tfds:imagenet2012": train: `random_resized_crop(size=image_size)` and a random flip;
      eval: `center_crop(size=image_size)`; then ImageNet mean/std normalisation.
      `data_config.image_size` defaults to 224.
    - "tfds:voc/2007": as imagenet2012 (photos of any size); its per-image class sets
      ("labels") become k-hot "tags" [num_classes] for multi-label classification.
    - any other "tfds:<name>": images scaled to [0, 1] only.
    `data_config.standardize=False` (default True) leaves ImageNet pixels in [0, 1].
    `data_config.augment=False` (default True) turns the random training augmentation off (ImageNet
    training images are then center-cropped).

    Args:
        data_config: ml_collections.ConfigDict or plain dict with `name`, optional `augment`,
            `image_size`.
        train: whether this is the training transform.

    Returns:
        `transform(example, rng) -> example`: keeps "image" (float32 [H, W, C]), "label" (int32 [],
        when present) and "tags" (float32 [T], when present, or made from "labels") and drops
        every other field.
    """
    name = field(data_config, "name")
    augment = train and bool(field(data_config, "augment", True))
    is_tfds = isinstance(name, str) and name.startswith("tfds:") and len(name) > len("tfds:")
    base = name[len("tfds:") :].split(":")[0].split("/")[0] if is_tfds else None
    if name == "digits" and field(data_config, "image_size", 8) != 8:
        image_fn = functools.partial(_resized_float, size=int(field(data_config, "image_size")))
    elif name == "photos":
        image_fn = functools.partial(
            _photo_crop, augment=augment, size=int(field(data_config, "image_size", 32))
        )
    elif name in ("digits", "digits_hashtags"):
        image_fn = _as_float
    elif base == "cifar10":
        image_fn = functools.partial(_cifar, augment=augment)
    elif base in ("imagenet2012", "voc"):
        image_fn = functools.partial(
            _imagenet,
            augment=augment,
            size=int(field(data_config, "image_size", 224)),
            standardize=bool(field(data_config, "standardize", True)),
        )
    elif is_tfds:
        image_fn = _as_float
    else:
        raise DataError(
            f"Unknown data set name {name!r}; expected 'digits', 'digits_hashtags' or"
            " 'tfds:<name>'."
        )
    return functools.partial(
        _apply, image_fn=image_fn, num_tags=int(field(data_config, "num_classes", 0))
    )
