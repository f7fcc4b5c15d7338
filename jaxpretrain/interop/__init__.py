"""Interoperability with other ecosystems: Hugging Face GPT-2 and BERT weights, word2vec .vec
files."""

from typing import Any, Callable

from jaxpretrain.errors import InputError
from jaxpretrain.interop.hf_bert import bert_config_from_hf, load_hf_bert
from jaxpretrain.interop.hf_gpt2 import gpt2_config_from_hf, load_hf_gpt2
from jaxpretrain.interop.word_vectors import save_vec

# Method name -> reads a Hugging Face directory as (model, params) of that method's model.
HF_IMPORTERS: dict[str, Callable[[str], tuple[Any, Any]]] = {
    "bert": load_hf_bert,
    "gpt2": load_hf_gpt2,
}


def import_hf(method: str, directory: str) -> tuple[Any, Any]:
    """(model, params) of the Hugging Face checkpoint in ``directory``, for ``method``'s model
    (what ``--config.init_from=hf:<dir>`` and the loaders' ``hf:<dir>`` read)."""
    if method not in HF_IMPORTERS:
        raise InputError(
            f"hf:{directory}: {method!r} has no Hugging Face importer (only"
            f" {', '.join(sorted(HF_IMPORTERS))} have one, and fine-tunes of their backbones);"
            " give a jaxpretrain workdir instead."
        )
    return HF_IMPORTERS[method](directory)


__all__ = [
    "HF_IMPORTERS",
    "bert_config_from_hf",
    "gpt2_config_from_hf",
    "import_hf",
    "load_hf_bert",
    "load_hf_gpt2",
    "save_vec",
]
