"""Host-side data: random-access sources, per-example image preprocessing, the batch stream.

Everything here is numpy (no jax): `BatchStream.local_batch(step)` gives this process's slice of
global batch `step`, a pure function of `(seed, step)`; `jaxpretrain.parallel` makes global arrays.
"""

from jaxpretrain.data.images import (
    CIFAR10_MEAN,
    CIFAR10_STD,
    IMAGENET_MEAN,
    IMAGENET_STD,
    center_crop,
    make_image_transform,
    normalize,
    random_crop_flip,
    random_resized_crop,
)
from jaxpretrain.data.iterator import BatchStream, eval_batches
from jaxpretrain.data.sources import (
    HASHTAG_DIGITS,
    HASHTAGS,
    ArraySource,
    DatasetNotFoundError,
    build_source,
    digits,
    digits_hashtags,
    tfds_source,
)

__all__ = [
    "ArraySource",
    "BatchStream",
    "CIFAR10_MEAN",
    "CIFAR10_STD",
    "DatasetNotFoundError",
    "HASHTAGS",
    "HASHTAG_DIGITS",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "build_source",
    "center_crop",
    "digits",
    "digits_hashtags",
    "eval_batches",
    "make_image_transform",
    "normalize",
    "random_crop_flip",
    "random_resized_crop",
    "tfds_source",
]
