"""Evaluation of trained models: text generation (a KV-cached sampler, best-of-n, stop strings,
few-shot prompts), and sequence decoding for translation."""

from jaxpretrain.evaluate.generation import (
    Completion,
    best_of,
    complete,
    generate,
    load_language_model,
)
from jaxpretrain.evaluate.prompts import few_shot_prompt
from jaxpretrain.evaluate.sampling import Sampler

__all__ = [
    "Completion",
    "Sampler",
    "best_of",
    "complete",
    "few_shot_prompt",
    "generate",
    "load_language_model",
]
