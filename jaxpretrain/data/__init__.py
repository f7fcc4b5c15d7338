"""Host-side data: data sets by name, image preprocessing, text and tokens, the batch stream.

`load_dataset(config.data)` builds the `Dataset` a data config names (train and eval sources and
their tokenizer; `registry.DATASETS` lists the names). Everything here is numpy (no jax):
`BatchStream.local_batch(step)` gives this process's slice of global batch `step`, a pure
function of `(seed, step)`; `jaxpretrain.parallel` makes global arrays.

Modules, lowest first: `base` (source protocol, `Dataset`, TFDS access) < the per-data-set
modules (`sklearn_digits`, `photos`, `signals`, `corpus`, `lm`, `translation`, `word_vectors`,
`bert_documents` < `bert_pretraining`, `glue`, `kjv_tasks`, `characters` < `sentences`, ...) and the transforms (`images`,
`color`, `masks`, `text`) < `registry`.
"""

from jaxpretrain.data.base import ArraySource, Dataset, DatasetNotFoundError, tfds_source
from jaxpretrain.data.bert_documents import (
    BertSources,
    ChunkSource,
    TokenizedDocuments,
    bert_sources,
    tokenized_corpus,
)
from jaxpretrain.data.bert_pretraining import InstanceTransform, instance_transform
from jaxpretrain.data.corpus import CorpusNotFoundError, corpus_text, kjv_text, read_text_files
from jaxpretrain.data.glue import GlueSource, glue_sources
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
from jaxpretrain.data.kjv_tasks import SECTIONS, kjv_task_examples, kjv_task_sources
from jaxpretrain.data.registry import DATASETS, build_source, data_tokenizer, load_dataset
from jaxpretrain.data.sentences import PackedSentences, SentenceVocabulary, sentence_sources
from jaxpretrain.data.sklearn_digits import HASHTAG_DIGITS, HASHTAGS, digits, digits_hashtags
from jaxpretrain.data.text import TokenWindows, bits_per_byte, split_tokens
from jaxpretrain.data.text_tasks import GLUE_TASKS, KJV_TASKS, TextTask, task_of, task_tokenizer
from jaxpretrain.data.tokenization import Tokenizer, load_gpt2_tokenizer, train_bpe
from jaxpretrain.data.translation import TokenizerPair, TranslationSource, translation_sources
from jaxpretrain.data.word_subwords import Subwords, build_subwords
from jaxpretrain.data.word_vectors import (
    CbowSampling,
    Vocabulary,
    WordData,
    cbow_sampling,
    word_data,
    words_of,
)
from jaxpretrain.data.wordpiece import WordPieceTokenizer

__all__ = [
    "ArraySource",
    "BatchStream",
    "BertSources",
    "ChunkSource",
    "CIFAR10_MEAN",
    "CIFAR10_STD",
    "CbowSampling",
    "CorpusNotFoundError",
    "DATASETS",
    "Dataset",
    "DatasetNotFoundError",
    "GLUE_TASKS",
    "GlueSource",
    "HASHTAGS",
    "HASHTAG_DIGITS",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "InstanceTransform",
    "KJV_TASKS",
    "PackedSentences",
    "SentenceVocabulary",
    "SECTIONS",
    "Subwords",
    "TextTask",
    "TokenizedDocuments",
    "TokenWindows",
    "Tokenizer",
    "TokenizerPair",
    "TranslationSource",
    "Vocabulary",
    "WordData",
    "WordPieceTokenizer",
    "bert_sources",
    "bits_per_byte",
    "build_source",
    "build_subwords",
    "cbow_sampling",
    "center_crop",
    "corpus_text",
    "data_tokenizer",
    "digits",
    "digits_hashtags",
    "eval_batches",
    "glue_sources",
    "instance_transform",
    "kjv_task_examples",
    "kjv_task_sources",
    "kjv_text",
    "load_dataset",
    "load_gpt2_tokenizer",
    "make_image_transform",
    "normalize",
    "random_crop_flip",
    "random_resized_crop",
    "read_text_files",
    "sentence_sources",
    "split_tokens",
    "task_of",
    "task_tokenizer",
    "tfds_source",
    "tokenized_corpus",
    "train_bpe",
    "translation_sources",
    "word_data",
    "words_of",
]
