"""The downstream text tasks BERT fine-tunes on, in one table: what each reads and how it is scored.

A `TextTask` says which text features an example has (one: a single sentence; two: a pair that
`WordPieceTokenizer.pack` lays out as [CLS] A [SEP] B [SEP]), how many classes its label has (1:
a regression score), which metrics score it, and its TFDS splits. Two families:
- `GLUE_TASKS`: the GLUE benchmark (Wang et al. 2019, "GLUE: A Multi-Task Benchmark and Analysis
  Platform for Natural Language Understanding") as TFDS serves it (`glue/<task>`, feature names
  of tensorflow_datasets text/glue.py), with the metrics BERT reports (Devlin et al. 2019,
  Sec. 4.1; CoLA Matthews correlation, STS-B Pearson/Spearman, MRPC/QQP accuracy and F1);
- `KJV_TASKS`: offline stand-ins built from the King James Bible's held-out chapters
  (`kjv_tasks`): a 6-way topic task, a sentence-pair task and a CoLA-like acceptability task.

`task_of(data_config)` is the task a "glue" or "kjv_task" data config names (the method layer
reads `num_classes` and `metrics` from it); `task_tokenizer(data_config)` its WordPiece
tokenizer, from the config's `vocab`. Host-side only (no jax).
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

from jaxpretrain.data.base import field
from jaxpretrain.data.wordpiece import WordPieceTokenizer
from jaxpretrain.errors import DataError

# Metric names the evaluation code knows.
METRICS = ("accuracy", "f1", "mcc", "pearson", "spearman")
DEFAULT_MAX_LENGTH = 128  # BERT's run_classifier max_seq_length.


class TextTask(NamedTuple):
    """One downstream text task.

    Attributes:
        name: the task's name within its family ("cola", "section", ...).
        features: the record features holding its text: one (a single sentence) or two (a pair).
        num_classes: K, labels int32 in [0, K); 1 means regression (labels float32).
        metrics: names from `METRICS`, the first the headline one.
        train_split: the split fine-tuned on.
        eval_split: the split scored.
    """

    name: str
    features: tuple[str, ...]
    num_classes: int
    metrics: tuple[str, ...]
    train_split: str = "train"
    eval_split: str = "validation"

    @property
    def is_pair(self) -> bool:
        return len(self.features) == 2

    @property
    def is_regression(self) -> bool:
        return self.num_classes == 1


def _table(*tasks: TextTask) -> dict[str, TextTask]:
    return {task.name: task for task in tasks}


_PAIR = ("sentence1", "sentence2")
GLUE_TASKS: dict[str, TextTask] = _table(
    TextTask("cola", ("sentence",), 2, ("mcc",)),
    TextTask("sst2", ("sentence",), 2, ("accuracy",)),
    TextTask("mrpc", _PAIR, 2, ("accuracy", "f1")),
    TextTask("qqp", ("question1", "question2"), 2, ("accuracy", "f1")),
    TextTask("stsb", _PAIR, 1, ("pearson", "spearman")),
    TextTask("mnli", ("premise", "hypothesis"), 3, ("accuracy",), eval_split="validation_matched"),
    TextTask("qnli", ("question", "sentence"), 2, ("accuracy",)),
    TextTask("rte", _PAIR, 2, ("accuracy",)),
    TextTask("wnli", _PAIR, 2, ("accuracy",)),
)

# The KJV tasks' "splits" are halves of the held-out chapters (`kjv_tasks`), not TFDS splits.
KJV_TASKS: dict[str, TextTask] = _table(
    TextTask("section", ("verse",), 6, ("accuracy",), eval_split="eval"),
    TextTask("same_book", ("verse1", "verse2"), 2, ("accuracy", "f1"), eval_split="eval"),
    TextTask("grammar", ("verse",), 2, ("mcc",), eval_split="eval"),
)

# Data set name -> its task table.
TASK_TABLES: dict[str, dict[str, TextTask]] = {"glue": GLUE_TASKS, "kjv_task": KJV_TASKS}


def task_of(data_config: Any) -> TextTask:
    """The `TextTask` a "glue" or "kjv_task" data config names in its `task` field.

    Raises:
        ValueError: not a text-task data set, or an unknown task (the message lists the tasks).
    """
    name = field(data_config, "name")
    if name not in TASK_TABLES:
        raise DataError(
            f"data set {name!r} is not a text task: set data.name to one of"
            f" {', '.join(repr(n) for n in TASK_TABLES)}."
        )
    table = TASK_TABLES[name]
    task = field(data_config, "task")
    if task not in table:
        raise DataError(
            f"Unknown {name} task {task!r}: set data.task to one of"
            f" {', '.join(repr(t) for t in table)}."
        )
    return table[task]


def vocab_path(data_config: Any) -> str:
    """The config's `vocab` (a vocab.txt or a directory holding one; "hf:<dir>" is `<dir>`).

    Raises:
        ValueError: `vocab` is not set.
    """
    vocab = field(data_config, "vocab", "")
    if not isinstance(vocab, str) or not vocab:
        raise DataError(
            f"data set {field(data_config, 'name')!r} needs a BERT vocabulary: set data.vocab to"
            " the pretraining workdir (its vocab.txt) or a Hugging Face BERT folder."
        )
    return vocab[len("hf:") :] if vocab.startswith("hf:") else vocab


@functools.lru_cache(maxsize=8)
def _load_tokenizer(path: str) -> WordPieceTokenizer:
    return WordPieceTokenizer.load(path)


def task_tokenizer(data_config: Any) -> WordPieceTokenizer:
    """The WordPiece tokenizer of the config's `vocab` (`WordPieceTokenizer.load`), cached per
    path.

    Raises:
        ValueError: `vocab` is not set.
        FileNotFoundError: no vocab.txt there.
    """
    return _load_tokenizer(vocab_path(data_config))


def max_length(data_config: Any) -> int:
    """The config's `max_length`, T (default 128), checked to hold [CLS] A [SEP] B [SEP]."""
    length = int(field(data_config, "max_length", DEFAULT_MAX_LENGTH))
    if length < 5:
        raise DataError(
            f"data.max_length must be at least 5 ([CLS] a [SEP] b [SEP]), got {length}."
        )
    return length
