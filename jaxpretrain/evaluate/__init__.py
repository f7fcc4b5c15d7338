"""Evaluation of trained models: text generation (a KV-cached sampler, best-of-n, stop strings,
few-shot prompts), word vectors (similarity, analogies, nearest neighbours), BERT sentence
embeddings and ELMo's contextual word vectors. Greedy and beam-search decoding for translation
live in ``models.decoding``."""

from jaxpretrain.evaluate.contextual import (
    ContextualEncoder,
    contextual_vectors,
    load_contextual_encoder,
)
from jaxpretrain.evaluate.embeddings import (
    SentenceEncoder,
    embed_sentences,
    load_sentence_encoder,
)
from jaxpretrain.evaluate.generation import (
    Completion,
    best_of,
    complete,
    generate,
    generate_batch,
    load_language_model,
)
from jaxpretrain.evaluate.prompts import few_shot_prompt
from jaxpretrain.evaluate.sampling import Sampler
from jaxpretrain.evaluate.word_vectors import (
    WordVectors,
    analogies,
    gensim_data,
    load_word_vectors,
    word_similarity,
)

__all__ = [
    "Completion",
    "ContextualEncoder",
    "Sampler",
    "SentenceEncoder",
    "WordVectors",
    "analogies",
    "best_of",
    "complete",
    "contextual_vectors",
    "embed_sentences",
    "few_shot_prompt",
    "generate",
    "generate_batch",
    "load_contextual_encoder",
    "gensim_data",
    "load_language_model",
    "load_sentence_encoder",
    "load_word_vectors",
    "word_similarity",
]
