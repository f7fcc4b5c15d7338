"""Loss primitives: per-example values with a `where=` mask; callers reduce."""

from jaxpretrain.losses.classification import khot_softmax_cross_entropy
from jaxpretrain.losses.classification import multilabel_sigmoid
from jaxpretrain.losses.classification import soft_target_cross_entropy
from jaxpretrain.losses.classification import softmax_cross_entropy
