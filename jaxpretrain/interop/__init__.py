"""Interoperability with other ecosystems: Hugging Face GPT-2 weights."""

from jaxpretrain.interop.hf_gpt2 import gpt2_config_from_hf, load_hf_gpt2

__all__ = ["gpt2_config_from_hf", "load_hf_gpt2"]
