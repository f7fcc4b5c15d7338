"""Loss primitives: per-example values with a `where=` mask; callers reduce."""

from jaxpretrain.losses.classification import (
    khot_softmax_cross_entropy,
    multilabel_sigmoid,
    soft_target_cross_entropy,
    softmax_cross_entropy,
)
from jaxpretrain.losses.contrastive import info_nce, mi_lower_bound
from jaxpretrain.losses.entropy import code_entropy, cross_entropy_entropy
from jaxpretrain.losses.language import masked_lm, next_sentence, next_token
from jaxpretrain.losses.rate import gaussian_kl
from jaxpretrain.losses.reconstruction import gan_discriminator, gan_generator, masked_l2
from jaxpretrain.losses.sampled_softmax import (
    log_uniform_probabilities,
    log_uniform_samples,
    sampled_softmax_cross_entropy,
)
from jaxpretrain.losses.word_vectors import cbow_negative_sampling

__all__ = [
    "cbow_negative_sampling",
    "code_entropy",
    "cross_entropy_entropy",
    "gan_discriminator",
    "gan_generator",
    "gaussian_kl",
    "info_nce",
    "khot_softmax_cross_entropy",
    "log_uniform_probabilities",
    "log_uniform_samples",
    "masked_l2",
    "masked_lm",
    "mi_lower_bound",
    "multilabel_sigmoid",
    "next_sentence",
    "next_token",
    "sampled_softmax_cross_entropy",
    "soft_target_cross_entropy",
    "softmax_cross_entropy",
]
