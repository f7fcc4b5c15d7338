"""Data sets by name: the one registry from a data config's `name` to the builder of its `Dataset`.

`DATASETS[name](data_config)` builds a `base.Dataset` (train source, eval source, tokenizer):
- "digits": `sklearn_digits.digits`, with optional fields `classes`, `per_class`, `seed`,
  `test_fraction`;
- "digits_hashtags": `sklearn_digits.digits_hashtags`, with optional `seed`, `test_fraction`;
- "photos": tiles of the colour photos scikit-image and scikit-learn ship (`photos.photos`),
  with optional `scale`, `tile`, `holdout` ("photos": whole photos, `eval_photos`, are held
  out; "region": the right quarter of every photo), `eval_photos`;
- "mnist1d": `signals.mnist1d` (1-D signals, generated locally), with optional `seed`,
  `num_samples`;
- "text": windows of a tokenized text corpus (`lm.lm_sources`), with fields `corpus`,
  `vocab_size`, `context`, `eval_fraction`, `tokenizer`; eval is the held-out tail; tokenizer
  a `tokenization.Tokenizer`;
- "translation": padded sentence pairs (`translation.translation_sources`), with fields `pairs`
  ("reverse", "tsv:<path>" or "tfds:<name>"), `vocab_size`, `max_source_length`,
  `max_target_length` and more; tokenizer a `translation.TokenizerPair`;
- "words": chunks of a corpus's word ids for word vectors (`word_vectors.word_source`), with
  fields `corpus`, `min_count`, `chunk`, `window`, `negatives`, `sample`, `subwords`...; eval
  is the first `eval_chunks` chunks; tokenizer the `word_vectors.WordData`;
- "bert_pretraining": BERT's masked LM + next sentence instances (Devlin et al. 2019), drawn
  on the fly: items are chunk anchors of documents (`bert_documents.bert_sources`), which the
  method's transform `bert_pretraining.instance_transform` turns into instances; tokenizer the
  `wordpiece.WordPieceTokenizer`. Fields: `corpus` ("kjv", "files:<glob>" in
  google-research/bert's one-sentence-a-line format, "tfds:<name>", plus the corpus fields of
  `corpus.corpus_text`), `document` ("chapter" or "book", for the KJV; default "chapter"),
  `heldout_every` (default 10: the KJV chapters `corpus.kjv_heldout` picks are eval only, never
  trained on), `eval_fraction` (default 0.05: the last documents of files/tfds), `vocab_size`
  (default 8192, WordPiece trained on the train documents), `lowercase` (default True),
  `vocab` (a vocab.txt or a folder holding one, used instead of training), `max_length` (T,
  default 128), `max_predictions` (P, default 20), `mask_rate` (0.15), `short_seq_prob` (0.1),
  `whole_word` (False);
- "glue": a GLUE task from TFDS (`glue.glue_sources`), tokenized and packed for BERT as it is
  read, with fields `task` (cola, sst2, mrpc, qqp, stsb, mnli, qnli, rte, wnli), `vocab` (a
  vocab.txt, or a directory holding one: the BERT pretraining workdir, a Hugging Face BERT
  folder, "hf:<dir>"), `max_length` (default 128), and optional `data_dir`, `train_split`,
  `eval_split` (default "validation", MNLI "validation_matched"), `max_train_examples`
  (default 0: all) with `seed` (default 0); tokenizer the `wordpiece.WordPieceTokenizer`;
- "kjv_task": an offline BERT fine-tuning task on the KJV chapters pretraining held out
  (`kjv_tasks.kjv_task_sources`), with fields `task` ("section", "same_book", "grammar"),
  `vocab`, `max_length` (default 128), `heldout_every` (default 10, the pretraining config's),
  `per_class` (default 0: all) and `seed` (default 0); tokenizer the `WordPieceTokenizer`.
  `text_tasks.task_of` gives a glue or kjv_task config's classes and metrics;
- "sentences": sentences of a corpus packed into rows of `length` tokens, as characters and
  softmax ids, for a bidirectional LM (`sentences.sentence_sources`: ELMo), with fields `corpus`,
  `heldout_every` (KJV: the held-out chapters are the eval split, default 10), `eval_fraction`
  (other corpora), `min_count` (default 2), `length` (default 128), `max_chars` (default 50);
  tokenizer the `sentences.SentenceVocabulary`;
- "tfds" serves every name "tfds:<name>" (e.g. "tfds:cifar10", "tfds:imagenet2012"):
  `base.tfds_source`, with optional `data_dir`, `train_split` (default "train") and
  `eval_split` (default "validation" for imagenet2012, else "test").
For the built-ins (digits, photos, mnist1d), train and eval are their "train" and "test" splits.

A builder passes a built-in only the fields its config sets, so each default lives in one place,
the data set function's signature: e.g. `digits(seed=0)` (the split's seed) and
`mnist1d(seed=42)` (the published generator's seed). Text, translation and word data read their
own fields (and cache the tokenized corpus per config values).
"""

from __future__ import annotations

from typing import Any, Callable

from jaxpretrain.data.base import Dataset, as_dict, field, tfds_source
from jaxpretrain.data.bert_documents import bert_sources
from jaxpretrain.data.bert_pretraining import instance_options
from jaxpretrain.data.glue import glue_sources
from jaxpretrain.data.kjv_tasks import kjv_task_sources
from jaxpretrain.data.lm import lm_sources
from jaxpretrain.data.photos import photos
from jaxpretrain.data.sentences import sentence_sources
from jaxpretrain.data.signals import mnist1d
from jaxpretrain.data.sklearn_digits import digits, digits_hashtags
from jaxpretrain.data.translation import translation_sources
from jaxpretrain.data.word_vectors import word_data, word_source
from jaxpretrain.errors import DataError

# The TFDS split used for "eval" when the config does not name one.
_TFDS_EVAL_SPLITS = {"imagenet2012": "validation"}


def _given(data_config: Any, *keys: str) -> dict[str, Any]:
    """The fields among `keys` that `data_config` sets (present and not None)."""
    return {k: field(data_config, k) for k in keys if field(data_config, k) is not None}


def _builtin(data_config: Any, make: Callable[[str], Any]) -> Dataset:
    """The Dataset of a built-in: `make("train")` and `make("test")`, no tokenizer."""
    return Dataset(make("train"), make("test"), None, as_dict(data_config))


def _digits(data_config: Any) -> Dataset:
    fields = _given(data_config, "classes", "per_class", "seed", "test_fraction")
    return _builtin(data_config, lambda split: digits(split, **fields))


def _digits_hashtags(data_config: Any) -> Dataset:
    fields = _given(data_config, "seed", "test_fraction")
    return _builtin(data_config, lambda split: digits_hashtags(split, **fields))


def _photos(data_config: Any) -> Dataset:
    fields = _given(data_config, "scale", "tile", "holdout", "eval_photos")
    return _builtin(data_config, lambda split: photos(split, **fields))


def _mnist1d(data_config: Any) -> Dataset:
    fields = _given(data_config, "seed", "num_samples")
    return _builtin(data_config, lambda split: mnist1d(split, **fields))


def _text(data_config: Any) -> Dataset:
    built = lm_sources(data_config)
    return Dataset(built.train, built.eval, built.tokenizer, as_dict(data_config))


def _translation(data_config: Any) -> Dataset:
    built = translation_sources(data_config)
    return Dataset(built.train, built.eval, built.tokenizers, as_dict(data_config))


def _words(data_config: Any) -> Dataset:
    return Dataset(
        word_source(data_config, "train"),
        word_source(data_config, "eval"),
        word_data(data_config),  # Its save() writes <workdir>/vocab.txt.
        as_dict(data_config),
    )


def _glue(data_config: Any) -> Dataset:
    built = glue_sources(data_config)
    return Dataset(built.train, built.eval, built.tokenizer, as_dict(data_config))


def _kjv_task(data_config: Any) -> Dataset:
    built = kjv_task_sources(data_config)
    return Dataset(built.train, built.eval, built.tokenizer, as_dict(data_config))


def _bert_pretraining(data_config: Any) -> Dataset:
    instance_options(data_config)  # Bad masking fields fail before the corpus is read.
    built = bert_sources(data_config)
    return Dataset(built.train, built.eval, built.tokenizer, as_dict(data_config))


def _sentences(data_config: Any) -> Dataset:
    built = sentence_sources(data_config)
    return Dataset(built.train, built.eval, built.tokenizer, as_dict(data_config))


def _tfds(data_config: Any) -> Dataset:
    name = field(data_config, "name")[len("tfds:") :]
    eval_default = _TFDS_EVAL_SPLITS.get(name.split(":")[0].split("/")[0], "test")
    data_dir = field(data_config, "data_dir") or None
    return Dataset(
        tfds_source(name, field(data_config, "train_split", "train"), data_dir=data_dir),
        tfds_source(name, field(data_config, "eval_split", eval_default), data_dir=data_dir),
        None,
        as_dict(data_config),
    )


DATASETS: dict[str, Callable[[Any], Dataset]] = {
    "digits": _digits,
    "digits_hashtags": _digits_hashtags,
    "photos": _photos,
    "mnist1d": _mnist1d,
    "text": _text,
    "translation": _translation,
    "words": _words,
    "glue": _glue,  # GLUE from TFDS, packed for BERT.
    "kjv_task": _kjv_task,  # Offline BERT fine-tuning tasks on the KJV's held-out chapters.
    "bert_pretraining": _bert_pretraining,
    "sentences": _sentences,  # Packed sentences as characters, for ELMo's biLM.
    "tfds": _tfds,  # Every "tfds:<name>".
}


def _entry(name: Any) -> str:
    """The `DATASETS` key of data set `name`: "tfds" for "tfds:<name>", else `name` itself."""
    if isinstance(name, str) and name.startswith("tfds:") and len(name) > len("tfds:"):
        return "tfds"
    if isinstance(name, str) and name != "tfds" and name in DATASETS:
        return name
    names = ", ".join(repr(k) for k in DATASETS if k != "tfds")
    raise DataError(
        f"Unknown data set name {name!r}; expected one of {names} or 'tfds:<name>'"
        " (e.g. 'tfds:cifar10', 'tfds:imagenet2012')."
    )


def load_dataset(data_config: Any) -> Dataset:
    """The `Dataset` (train source, eval source, tokenizer or None) a data config names.

    Args:
        data_config: ml_collections.ConfigDict or plain dict; `name` picks the `DATASETS` entry
            (see the module docstring for each entry's fields).

    Raises:
        ValueError: an unknown name (the message lists the registered ones).
    """
    return DATASETS[_entry(field(data_config, "name"))](data_config)


def build_source(data_config: Any, split: str) -> Any:
    """The "train" or "eval" source of the data set `data_config` names (`load_dataset`)."""
    if split not in ("train", "eval"):
        raise DataError(f"split must be 'train' or 'eval', got {split!r}.")
    dataset = load_dataset(data_config)
    return dataset.train if split == "train" else dataset.eval


def data_tokenizer(data_config: Any) -> Any:
    """The tokenizer of the data set `data_config` names (`Dataset.tokenizer`), or None (images).

    Training saves it into the workdir, so that sampling and evaluation decode with exactly the
    ids the model was trained on.
    """
    return load_dataset(data_config).tokenizer
