"""Loss primitives: per-example values with a `where=` mask; callers reduce."""

from jaxpretrain.losses.classification import (
    khot_softmax_cross_entropy,
    multilabel_sigmoid,
    soft_target_cross_entropy,
    softmax_cross_entropy,
)
from jaxpretrain.losses.language import next_token
from jaxpretrain.losses.word_vectors import cbow_negative_sampling

__all__ = [
    "cbow_negative_sampling",
    "khot_softmax_cross_entropy",
    "multilabel_sigmoid",
    "next_token",
    "soft_target_cross_entropy",
    "softmax_cross_entropy",
]
