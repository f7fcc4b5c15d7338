"""Model definitions: backbones return [B, D] features; Classifier adds a head."""

from jaxpretrain.models.common import num_params
from jaxpretrain.models.resnet import BasicBlock
from jaxpretrain.models.resnet import BottleneckBlock
from jaxpretrain.models.resnet import Classifier
from jaxpretrain.models.resnet import ResNet
from jaxpretrain.models.resnet import resnet
