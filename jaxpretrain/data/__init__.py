"""Host-side data: random-access sources, per-example image preprocessing, the batch stream.

Everything here is numpy (no jax): `BatchStream.local_batch(step)` gives this process's slice of
global batch `step`, a pure function of `(seed, step)`; `jaxpretrain.parallel` makes global arrays.
"""

from jaxpretrain.data.images import CIFAR10_MEAN
from jaxpretrain.data.images import CIFAR10_STD
from jaxpretrain.data.images import IMAGENET_MEAN
from jaxpretrain.data.images import IMAGENET_STD
from jaxpretrain.data.images import center_crop
from jaxpretrain.data.images import make_image_transform
from jaxpretrain.data.images import normalize
from jaxpretrain.data.images import random_crop_flip
from jaxpretrain.data.images import random_resized_crop
from jaxpretrain.data.iterator import BatchStream
from jaxpretrain.data.iterator import eval_batches
from jaxpretrain.data.sources import HASHTAG_DIGITS
from jaxpretrain.data.sources import HASHTAGS
from jaxpretrain.data.sources import ArraySource
from jaxpretrain.data.sources import DatasetNotFoundError
from jaxpretrain.data.sources import build_source
from jaxpretrain.data.sources import digits
from jaxpretrain.data.sources import digits_hashtags
from jaxpretrain.data.sources import tfds_source
