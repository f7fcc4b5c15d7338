"""What every data module shares: the source protocol, `Dataset`, config fields, TFDS access.

A *source* is any object with `__len__` and `__getitem__(int) -> dict[str, np.ndarray]`. That
is all the deterministic batch iterator (`jaxpretrain.data.iterator`) needs: because it can read
example `i` directly, the batch at step `s` is a pure function of `(seed, s)`, a resumed run
continues the exact stream, and every host reads only its own examples. `ArraySource` is the
source over in-memory arrays; `tfds_source` the one over a TFDS data set that is already built
(`tfds.data_source`: random access over ArrayRecord files, without TensorFlow).

A `Dataset` is what a data config names: its train and eval sources and the tokenizer their ids
come from (`jaxpretrain.data.registry.load_dataset` builds it). Training builds it once and hands
it to the method, so that no method reads files or passes over a corpus itself.

This module imports nothing else of `jaxpretrain.data`: every other data module may import it.
Host-side numpy only.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Mapping, Sequence

import numpy as np

from jaxpretrain.errors import DataError, NotFoundError


class DatasetNotFoundError(NotFoundError):
    """A TFDS data set has not been built in `data_dir`; the message says how to build it."""


def field(config: Any, key: str, default: Any = None) -> Any:
    """`config[key]` of a dict or ConfigDict-like data config; `default` if missing or None."""
    getter = getattr(config, "get", None)
    value = getter(key, default) if callable(getter) else getattr(config, key, default)
    return default if value is None else value


def as_dict(config: Any) -> dict[str, Any]:
    """A data config (ml_collections.ConfigDict or mapping) as a plain dict."""
    return config.to_dict() if hasattr(config, "to_dict") else dict(config)


class ArraySource:
    """A random-access source over a dict of equal-length numpy arrays.

    `source[i]` is `{k: v[i] for k, v in arrays.items()}`; `len(source)` is the shared leading
    dimension.
    """

    def __init__(self, arrays: Mapping[str, np.ndarray]):
        if not arrays:
            raise DataError("ArraySource needs at least one array.")
        self.arrays = {k: np.asarray(v) for k, v in arrays.items()}
        lengths = {k: (v.shape[0] if v.ndim else None) for k, v in self.arrays.items()}
        if None in lengths.values() or len(set(lengths.values())) != 1:
            raise DataError(
                f"ArraySource arrays must share one leading dimension, got lengths {lengths}."
            )
        self._len = next(iter(lengths.values()))

    def __len__(self) -> int:
        return self._len

    def __getitem__(self, index: int) -> dict[str, np.ndarray]:
        index = int(index)
        if not -self._len <= index < self._len:
            raise IndexError(f"index {index} out of range for ArraySource of length {self._len}.")
        return {k: v[index] for k, v in self.arrays.items()}

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}: {v.dtype}{list(v.shape)}" for k, v in self.arrays.items())
        return f"ArraySource({fields})"


@dataclasses.dataclass(frozen=True, eq=False)
class Dataset:
    """The data set a data config names.

    Every builder is a pure function of the config, so two Datasets built from equal configs are
    equal and hash alike: a Dataset can key a `functools.lru_cache` (`color.ab_bin_counts`).

    Attributes:
        train: the training source (items: dicts of numpy arrays).
        eval: the evaluation source, never trained on (for the word-vector data, a fixed part of
            the training text: see `word_vectors.word_source`).
        tokenizer: what the items' ids come from, or None (images, signals): a
            `tokenization.Tokenizer` (text), a `translation.TokenizerPair` (translation), or a
            `word_vectors.WordData` (words: vocabulary, id stream, subword bags). Training saves
            it into the workdir with its `save(workdir)`.
        config: the data config it was built from, as a plain dict.
    """

    train: Any
    eval: Any
    tokenizer: Any
    config: dict[str, Any]

    @property
    def key(self) -> str:
        """The config as canonical JSON (values JSON cannot hold as their `str`)."""
        return json.dumps(self.config, sort_keys=True, default=str)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Dataset) and self.key == other.key

    def __hash__(self) -> int:
        return hash(self.key)


def tfds_not_found(name: str, data_dir: str | None) -> DatasetNotFoundError:
    """The error for a TFDS data set `name` not built in `data_dir`, saying how to build it."""
    where = data_dir or "the default TFDS data_dir (~/tensorflow_datasets or $TFDS_DATA_DIR)"
    dd = f" --data_dir={data_dir}" if data_dir else ""
    manual = ""
    if name.split("/")[0].split(":")[0] == "imagenet2012":
        manual = (
            "; imagenet2012 is not downloaded automatically: first put ILSVRC2012_img_train.tar"
            f" and ILSVRC2012_img_val.tar into {data_dir or '~/tensorflow_datasets'}"
            "/downloads/manual"
        )
    return DatasetNotFoundError(
        f"TFDS data set {name!r} is not prepared in {where}: install the extra"
        f" `pip install jaxpretrain[data]` (tensorflow) and run"
        f" `tfds build {name}{dd} --file_format=array_record`{manual}."
    )


def tfds_source(name: str, split: str, *, data_dir: str | None = None) -> Sequence[dict[str, Any]]:
    """A random-access TFDS data source (`tfds.data_source`) over a data set that is already built.

    Never downloads. Records are dicts of numpy arrays (images uint8 [H, W, C], labels int64 [])
    plus string fields such as "id". Index one record at a time: `tfds.testing.mock_data` mocks
    `__getitem__` but not `__getitems__` correctly.

    Args:
        name: TFDS name, optionally with config and version ("cifar10", "imagenet2012:5.1.0").
        split: TFDS split, slicing allowed ("train", "validation", "train[:90%]").
        data_dir: TFDS data directory; None uses TFDS's default.

    Raises:
        DatasetNotFoundError: the data set has not been built (in ArrayRecord format) in `data_dir`.
    """
    # Imported when first needed: tensorflow_datasets is slow to import; only TFDS data needs it.
    import tensorflow_datasets as tfds  # pylint: disable=import-outside-toplevel

    try:
        return tfds.data_source(name, split=split, data_dir=data_dir, download=False)
    except (KeyError, NotImplementedError) as e:
        # What tfds 4.9 raises for a data set that was never built: KeyError ("`splits` is
        # empty") with the default data_dir, NotImplementedError (TFRecord has no random access)
        # with an explicit one. The latter also means "built, but as TFRecord"; tfds' own message
        # explains that case, so only an unbuilt data set becomes DatasetNotFoundError.
        if tfds.builder(name, data_dir=data_dir).is_prepared():
            raise
        raise tfds_not_found(name, data_dir) from e
