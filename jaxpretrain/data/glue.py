"""GLUE from TFDS as BERT fine-tuning data: each record tokenized and packed when it is read.

`glue_sources(data_config)` reads fields `task` (a key of `text_tasks.GLUE_TASKS`), `vocab`
(`text_tasks.task_tokenizer`), `max_length` (T, default 128), and the optional `data_dir`,
`train_split`, `eval_split` (defaults: the task's, "validation_matched" for MNLI), and
`max_train_examples` with `seed` (a label budget: the first N records of a permutation of the
training split fixed by `seed`; 0 keeps all). TFDS name "glue/<task>", already built as
ArrayRecord (`base.tfds_source`; never downloads).

Every item is {"tokens": int32 [T], "token_types": int32 [T], "valid": bool [T], "label": int32
[] (float32 [] for STS-B)}, laid out by `WordPieceTokenizer.pack` as BERT's run_classifier does
([CLS] A [SEP] B [SEP], the longer sentence cut first). Records are checked where they are read:
the task's features present, and a label in [0, num_classes) (a finite score >= 0 for STS-B);
the test splits' label -1 (GLUE's test labels are not public) is an error that says to use the
validation split. Host-side only (no jax).
"""

from __future__ import annotations

import importlib
from typing import Any, NamedTuple

import numpy as np

from jaxpretrain.data.base import field, tfds_source
from jaxpretrain.data.text_tasks import TextTask, max_length, task_of, task_tokenizer
from jaxpretrain.data.wordpiece import WordPieceTokenizer
from jaxpretrain.errors import DataError


def _text(value: Any) -> str:
    """A TFDS text feature (bytes from ArrayRecord, str from mock data) as str."""
    value = value.item() if isinstance(value, np.ndarray) else value
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _label(task: TextTask, value: Any, where: str) -> np.ndarray:
    """The checked label of a record: int32 [] in [0, K), or float32 [] for a regression task."""
    label = np.asarray(value)
    if label.shape != ():
        raise DataError(f"{where}: label has shape {label.shape}, expected a scalar.")
    if label == -1:
        raise DataError(
            f"{where} is unlabelled (label -1: GLUE's test labels are not public): fine-tune and"
            f" evaluate on labelled splits, e.g. data.eval_split='{task.eval_split}'."
        )
    if task.is_regression:
        if not np.isfinite(label) or label < 0:
            raise DataError(f"{where}: score {float(label)} is not a finite score >= 0.")
        return label.astype(np.float32)
    if not (np.issubdtype(label.dtype, np.integer) and 0 <= label < task.num_classes):
        raise DataError(
            f"{where}: label {label.item()!r} is outside [0, {task.num_classes}) for"
            f" {task.num_classes}-class glue/{task.name}: check data.task and the data set."
        )
    return label.astype(np.int32)


class GlueSource:
    """A random-access source over one split of `glue/<task>`, packed for BERT when read.

    Args:
        task: the GLUE task.
        split: the TFDS split (slicing allowed).
        tokenizer: the WordPiece tokenizer.
        max_length: T.
        data_dir: TFDS data directory, None for TFDS's default.
        indices: the records to serve, in order (a label budget); None serves them all.

    Raises:
        base.DatasetNotFoundError: glue/<task> is not built.
        ValueError: an empty split, or a first record lacking a feature or with a bad label.
    """

    def __init__(
        self,
        task: TextTask,
        split: str,
        tokenizer: WordPieceTokenizer,
        max_length: int,
        *,
        data_dir: str | None = None,
        indices: np.ndarray | None = None,
    ):
        # The package tensorflow_datasets.text imports TensorFlow; glue's own module does not,
        # and importing it registers the builder.
        importlib.import_module("tensorflow_datasets.text.glue")
        self.task, self.split, self.name = task, split, f"glue/{task.name}"
        self.tokenizer, self.max_length = tokenizer, max_length
        self.records = tfds_source(self.name, split, data_dir=data_dir)
        self.indices = None if indices is None else np.asarray(indices, np.int64)
        if len(self) == 0:
            raise DataError(f"TFDS {self.name!r} split {split!r} has no records: pick another.")
        self[0]  # Checked now, before anything compiles.

    def __len__(self) -> int:
        return len(self.records) if self.indices is None else len(self.indices)

    def __getitem__(self, index: int) -> dict[str, np.ndarray]:
        index = int(index)
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} {self.name} records.")
        index %= len(self)
        record_index = index if self.indices is None else int(self.indices[index])
        record = self.records[record_index]  # One index at a time: mocked sources need it.
        where = f"TFDS {self.name} {self.split!r} record {record_index}"
        missing = [f for f in self.task.features if f not in record]
        if missing or "label" not in record:
            kind = "sentence pair" if self.task.is_pair else "single sentence"
            raise DataError(
                f"{where} lacks {', '.join(repr(f) for f in missing) or repr('label')} (it has"
                f" {sorted(record)}); glue/{self.task.name} is a {kind} task with features"
                f" {list(self.task.features)} and 'label': check data.task and data.data_dir."
            )
        ids = [self.tokenizer.encode(_text(record[f])) for f in self.task.features]
        packed = self.tokenizer.pack(*ids, max_length=self.max_length)
        return {**packed._asdict(), "label": _label(self.task, record["label"], where)}

    def __repr__(self) -> str:
        return f"GlueSource({self.name}, {self.split!r}, {len(self)} records, T={self.max_length})"


class GlueSources(NamedTuple):
    train: GlueSource
    eval: GlueSource
    tokenizer: WordPieceTokenizer


def glue_sources(data_config: Any) -> GlueSources:
    """The train and eval sources and tokenizer of a "glue" data config (module docstring).

    Raises:
        ValueError: an unknown task (the tasks listed), no `vocab`, a negative budget, records
            without the task's features or with bad labels.
        base.DatasetNotFoundError: glue/<task> has not been built.
    """
    task = task_of(data_config)
    tokenizer = task_tokenizer(data_config)
    length = max_length(data_config)
    data_dir = field(data_config, "data_dir") or None
    budget = int(field(data_config, "max_train_examples", 0))
    if budget < 0:
        raise DataError(f"data.max_train_examples must be >= 0 (0: all), got {budget}.")

    def source(split: str, indices: np.ndarray | None = None) -> GlueSource:
        return GlueSource(task, split, tokenizer, length, data_dir=data_dir, indices=indices)

    train = source(field(data_config, "train_split", task.train_split))
    if budget:
        order = np.random.default_rng(int(field(data_config, "seed", 0))).permutation(len(train))
        train = source(train.split, np.sort(order[:budget]))
    return GlueSources(train, source(field(data_config, "eval_split", task.eval_split)), tokenizer)
