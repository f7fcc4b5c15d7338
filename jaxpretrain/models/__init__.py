"""Model definitions: backbones by name (``BACKBONES``) return [B, D] features and Classifier adds
a head to any of them; GPT-2, BERT and ELMo (with its ``ScalarMix``); attention, masks,
positions, the configurable Transformer layer and stack, and greedy / beam-search decoding for
Transformers."""

from jaxpretrain.models.attention import MultiHeadAttention
from jaxpretrain.models.backbones import (
    BACKBONES,
    backbone,
    backbone_has_dropout,
    backbone_inputs,
)
from jaxpretrain.models.bert import Bert, BertEncoder, bert, bert_encoder, init_bert
from jaxpretrain.models.colorizer import Colorizer
from jaxpretrain.models.common import module_fields, num_params
from jaxpretrain.models.context_encoder import (
    ChannelwiseFC,
    ContextEncoder,
    ConvDecoder,
    ConvEncoder,
    Discriminator,
)
from jaxpretrain.models.cotraining import CodeEncoder, ConditionalModels, MarginalModel
from jaxpretrain.models.cpc import (
    CPCSequence,
    CPCVision,
    MaskedContext,
    PatchEncoder,
    SequenceBackbone,
)
from jaxpretrain.models.decoding import (
    beam_search,
    gather_beams,
    greedy_decode,
    length_penalty,
    sequence_lengths,
)
from jaxpretrain.models.elmo import (
    BiLM,
    CharEncoder,
    ElmoEncoder,
    ElmoLM,
    LSTMPCell,
    ScalarMix,
    token_mask,
)
from jaxpretrain.models.gpt import GPT, gpt2, init_cache, init_gpt
from jaxpretrain.models.heads import Classifier
from jaxpretrain.models.layers import ACTIVATIONS
from jaxpretrain.models.masks import causal_mask, combine_masks, padding_mask
from jaxpretrain.models.positions import (
    LearnedPositions,
    dial_features,
    dial_positions,
    sinusoidal_positions,
)
from jaxpretrain.models.rda import (
    RDA,
    ConditionalDiscriminator,
    DenseDecoder,
    DenseDiscriminator,
    DenseTrunk,
    GaussianEncoder,
    GaussianPrior,
    ImageDecoder,
    RDAOutput,
)
from jaxpretrain.models.resnet import BasicBlock, BottleneckBlock, ResNet, resnet
from jaxpretrain.models.transformer import (
    Transformer,
    init_decode_cache,
    init_transformer,
    transformer,
)
from jaxpretrain.models.transformer_stack import (
    KernelInits,
    LayerConfig,
    LayerNames,
    TransformerLayer,
    TransformerStack,
)
from jaxpretrain.models.word_vectors import (
    CBOW,
    WordVectorMean,
    cbow_scores,
    gather_rows,
    row_ids,
)

__all__ = [
    "ACTIVATIONS",
    "BACKBONES",
    "BasicBlock",
    "BiLM",
    "Bert",
    "BertEncoder",
    "BottleneckBlock",
    "CBOW",
    "CharEncoder",
    "CodeEncoder",
    "ConditionalModels",
    "CPCSequence",
    "CPCVision",
    "ChannelwiseFC",
    "Classifier",
    "Colorizer",
    "ContextEncoder",
    "ConvDecoder",
    "ConvEncoder",
    "Discriminator",
    "ElmoEncoder",
    "ElmoLM",
    "GPT",
    "KernelInits",
    "LayerConfig",
    "LayerNames",
    "LSTMPCell",
    "LearnedPositions",
    "MarginalModel",
    "MaskedContext",
    "MultiHeadAttention",
    "PatchEncoder",
    "RDA",
    "RDAOutput",
    "ConditionalDiscriminator",
    "DenseDecoder",
    "DenseDiscriminator",
    "DenseTrunk",
    "GaussianEncoder",
    "GaussianPrior",
    "ImageDecoder",
    "ResNet",
    "ScalarMix",
    "SequenceBackbone",
    "Transformer",
    "backbone",
    "backbone_has_dropout",
    "backbone_inputs",
    "TransformerLayer",
    "TransformerStack",
    "WordVectorMean",
    "beam_search",
    "bert",
    "bert_encoder",
    "causal_mask",
    "cbow_scores",
    "combine_masks",
    "dial_features",
    "dial_positions",
    "gather_beams",
    "gather_rows",
    "gpt2",
    "greedy_decode",
    "init_bert",
    "init_cache",
    "init_decode_cache",
    "init_gpt",
    "init_transformer",
    "length_penalty",
    "module_fields",
    "num_params",
    "padding_mask",
    "resnet",
    "row_ids",
    "sequence_lengths",
    "sinusoidal_positions",
    "token_mask",
    "transformer",
]
