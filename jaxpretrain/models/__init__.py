"""Model definitions: backbones return [B, D] features; Classifier adds a head."""

from jaxpretrain.models.common import num_params
from jaxpretrain.models.resnet import BasicBlock, BottleneckBlock, Classifier, ResNet, resnet

__all__ = [
    "BasicBlock",
    "BottleneckBlock",
    "Classifier",
    "ResNet",
    "num_params",
    "resnet",
]
