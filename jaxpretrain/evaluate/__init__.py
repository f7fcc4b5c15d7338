"""Evaluation of trained models: generation (sampling, best-of-n, few-shot prompts), and
sequence decoding for translation."""
