"""Interoperability with other ecosystems: Hugging Face GPT-2 weights, word2vec .vec files."""

from typing import Any

from jaxpretrain.interop.hf_gpt2 import gpt2_config_from_hf, load_hf_gpt2
from jaxpretrain.interop.word_vectors import save_vec

# Method name -> reads a Hugging Face directory into that method's params tree.
_HF_IMPORTERS = {"gpt2": lambda directory: load_hf_gpt2(directory)[1]}


def import_hf(method: str, directory: str) -> Any:
    """The params tree of the Hugging Face checkpoint in ``directory``, for ``method``'s model
    (what ``--config.init_from=hf:<dir>`` loads)."""
    if method not in _HF_IMPORTERS:
        raise ValueError(
            f"init_from=hf:{directory}: method {method!r} cannot import Hugging Face weights "
            f"(only {', '.join(sorted(_HF_IMPORTERS))} can); give a jaxpretrain workdir instead."
        )
    return _HF_IMPORTERS[method](directory)


__all__ = ["gpt2_config_from_hf", "import_hf", "load_hf_gpt2", "save_vec"]
