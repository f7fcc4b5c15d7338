"""Random-access data sources: offline built-ins and TFDS data sets by name.

A *source* is any object with `__len__` and `__getitem__(int) -> dict[str, np.ndarray]`. That
is all the deterministic batch iterator (`jaxpretrain.data.iterator`) needs: because it can read
example `i` directly, the batch at step `s` is a pure function of `(seed, s)`, a resumed run
continues the exact stream, and every host reads only its own examples.

Built-ins need no download:
- `digits`: scikit-learn's bundled handwritten digits (1,797 8x8 greyscale images), with a
  seeded stratified train/test split, class subsets and few-label training subsets (e.g. 10 per
  class) for fine-tuning experiments;
- `digits_hashtags`: a multi-label ("hashtag") task on the same images, standing in for the
  weakly supervised hashtag pretraining of Mahajan et al. 2018, "Exploring the Limits of Weakly
  Supervised Pretraining": each digit carries the subset of `HASHTAGS` that describe it.

TFDS data sets (`cifar10`, `imagenet2012`, ...) are read through `tfds.data_source`: random
access over ArrayRecord files, which works without TensorFlow once the data set has been built.
Nothing here downloads: a data set that is not built is a `DatasetNotFoundError` saying how to
build it.

Host-side numpy only; jax arrays are made elsewhere.
"""

from __future__ import annotations

import functools
from typing import Any, Mapping, Sequence

import numpy as np

NUM_DIGITS = 10

# Tags of the digits task, and which digits carry each. Every digit has several tags, so the task is
# genuinely multi-label (a sigmoid per tag, not one softmax).
HASHTAG_DIGITS: dict[str, frozenset[int]] = {
    "even": frozenset({0, 2, 4, 6, 8}),
    "odd": frozenset({1, 3, 5, 7, 9}),
    "prime": frozenset({2, 3, 5, 7}),
    "square": frozenset({0, 1, 4, 9}),  # perfect squares k*k, 0 included
    "fibonacci": frozenset({0, 1, 2, 3, 5, 8}),
    "ge5": frozenset({5, 6, 7, 8, 9}),
    "has_loop": frozenset({0, 6, 8, 9}),  # closed loops in the usual handwritten glyph
    "straight": frozenset({1, 4, 7}),  # drawn with straight strokes only
}
HASHTAGS: tuple[str, ...] = tuple(HASHTAG_DIGITS)

# The TFDS split used for split "eval" when the config does not name one.
_TFDS_EVAL_SPLITS = {"imagenet2012": "validation"}


class DatasetNotFoundError(FileNotFoundError):
    """A TFDS data set has not been built in `data_dir`; the message says how to build it."""


class ArraySource:
    """A random-access source over a dict of equal-length numpy arrays.

    `source[i]` is `{k: v[i] for k, v in arrays.items()}`; `len(source)` is the shared leading
    dimension.
    """

    def __init__(self, arrays: Mapping[str, np.ndarray]):
        if not arrays:
            raise ValueError("ArraySource needs at least one array.")
        self.arrays = {k: np.asarray(v) for k, v in arrays.items()}
        lengths = {k: (v.shape[0] if v.ndim else None) for k, v in self.arrays.items()}
        if None in lengths.values() or len(set(lengths.values())) != 1:
            raise ValueError(
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


@functools.lru_cache(maxsize=1)
def _load_digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits as (images float32 [1797, 8, 8, 1] in [0, 1], labels int32 [1797])."""
    from sklearn.datasets import load_digits  # pylint: disable=import-outside-toplevel

    bunch = load_digits()
    images = (bunch.data.reshape(-1, 8, 8, 1) / 16.0).astype(np.float32)  # pixels are 0..16
    images.setflags(write=False)
    labels = bunch.target.astype(np.int32)
    labels.setflags(write=False)
    return images, labels


def _digits_split_indices(
    labels: np.ndarray, split: str, *, seed: int, test_fraction: float, per_class: int | None
) -> np.ndarray:
    """Sorted indices of `split` in a seeded split stratified over all ten digits."""
    if split not in ("train", "test"):
        raise ValueError(f"digits split must be 'train' or 'test', got {split!r}.")
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}.")
    if per_class is not None and per_class < 1:
        raise ValueError(f"per_class must be a positive int or None, got {per_class}.")
    rng = np.random.default_rng(seed)
    chosen = []
    # Split over all ten digits whatever the class subset, so a subset's split is the restriction
    # of the full one (a pretraining run on all digits never sees a fine-tune's test images).
    for digit in range(NUM_DIGITS):
        order = rng.permutation(np.flatnonzero(labels == digit))
        n_test = int(round(len(order) * test_fraction))
        if split == "test":
            chosen.append(order[:n_test])
        else:
            chosen.append(order[n_test:] if per_class is None else order[n_test:][:per_class])
    return np.sort(np.concatenate(chosen))


def digits(
    split: str,
    *,
    classes: Sequence[int] = tuple(range(NUM_DIGITS)),
    per_class: int | None = None,
    seed: int = 0,
    test_fraction: float = 0.3,
) -> ArraySource:
    """scikit-learn's handwritten digits, split, filtered to `classes` and relabelled.

    Args:
        split: "train" or "test". The split is stratified by digit and a pure function of
            `seed`; the two splits are disjoint and together cover the data set.
        classes: the digits to keep; labels are remapped to `0..len(classes)-1` in the order given
            (`classes=(3, 8)` makes 3 -> 0 and 8 -> 1).
        per_class: if set, keep only the first `per_class` training examples of each digit (the
            training part of each digit is in a seeded random order), for few-label fine-tuning.
            Ignored for "test".
        seed: seeds the split and the per-class subset.
        test_fraction: fraction of each digit that goes to "test".

    Returns:
        ArraySource with "image": float32 [N, 8, 8, 1] in [0, 1] and "label": int32 [N].
    """
    classes = tuple(int(c) for c in classes)
    valid = set(classes) <= set(range(NUM_DIGITS)) and len(set(classes)) == len(classes)
    if not classes or not valid:
        raise ValueError(f"classes must be distinct digits in 0..9, got {classes}.")
    images, labels = _load_digits()
    index = _digits_split_indices(
        labels,
        split,
        seed=seed,
        test_fraction=test_fraction,
        per_class=per_class if split == "train" else None,
    )
    index = index[np.isin(labels[index], classes)]
    remap = np.full(NUM_DIGITS, -1, np.int32)
    remap[list(classes)] = np.arange(len(classes), dtype=np.int32)
    return ArraySource({"image": images[index], "label": remap[labels[index]]})


def digits_hashtags(split: str, *, seed: int = 0, test_fraction: float = 0.3) -> ArraySource:
    """The digits as a multi-label task: each image is tagged with the `HASHTAGS` its digit has.

    Args:
        split: "train" or "test" (the split `digits` makes with the same `seed`, `test_fraction`).
        seed: seeds the split.
        test_fraction: fraction of each digit that goes to "test".

    Returns:
        ArraySource with "image": float32 [N, 8, 8, 1] in [0, 1], "tags": float32
        [N, len(HASHTAGS)] in {0, 1} (column k is `HASHTAGS[k]`), and "label": int32 [N], the
        digit itself.
    """
    base = digits(split, seed=seed, test_fraction=test_fraction)
    table = np.array(  # [10, len(HASHTAGS)]: digit -> tag indicator
        [[d in HASHTAG_DIGITS[tag] for tag in HASHTAGS] for d in range(NUM_DIGITS)], np.float32
    )
    label = base.arrays["label"]
    return ArraySource({"image": base.arrays["image"], "tags": table[label], "label": label})


def _not_found(name: str, data_dir: str | None) -> DatasetNotFoundError:
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
        raise _not_found(name, data_dir) from e


def _get(config: Any, key: str, default: Any = None) -> Any:
    """`config[key]` of a dict or ConfigDict-like object; `default` if missing or None."""
    getter = getattr(config, "get", None)
    value = getter(key, default) if callable(getter) else getattr(config, key, default)
    return default if value is None else value


def build_source(data_config: Any, split: str) -> Any:
    """Builds the source a data config names, for split "train" or "eval".

    `data_config.name` is one of:
    - "digits": `digits`, with optional fields `classes`, `per_class`, `seed`, `test_fraction`;
    - "digits_hashtags": `digits_hashtags`, with optional `seed`, `test_fraction`;
    - "photos": tiles of the colour photos scikit-image and scikit-learn ship (`photos.photos`),
      with optional `scale`, `tile`, `holdout` ("photos": whole photos, `eval_photos`, are held
      out; "region": the right quarter of every photo);
    - "mnist1d": `signals.mnist1d` (1-D signals, generated locally), with optional `seed`,
      `num_samples`;
    - "tfds:<name>" (e.g. "tfds:cifar10", "tfds:imagenet2012"): `tfds_source`, with optional
      `data_dir`, `train_split` (default "train") and `eval_split` (default "validation" for
      imagenet2012, else "test");
    - "text": windows of a tokenized text corpus (`lm.lm_sources`), with fields `corpus`,
      `vocab_size`, `context`, `eval_fraction`, `tokenizer`; "eval" is the held-out tail;
    - "translation": padded sentence pairs (`translation.translation_sources`), with fields
      `pairs` ("reverse", "tsv:<path>" or "tfds:<name>"), `vocab_size`, `max_source_length`,
      `max_target_length` and more;
    - "words": chunks of a corpus's word ids for word vectors (`word_vectors.word_source`), with
      fields `corpus`, `min_count`, `chunk`, `window`, `negatives`, `sample`, `subwords`...;
      "eval" is the first `eval_chunks` chunks.
    For the built-ins, "train" and "eval" are their "train" and "test" splits.

    Args:
        data_config: ml_collections.ConfigDict or plain dict.
        split: "train" or "eval".
    """
    if split not in ("train", "eval"):
        raise ValueError(f"split must be 'train' or 'eval', got {split!r}.")
    name = _get(data_config, "name")
    builtin_split = "train" if split == "train" else "test"
    seed = _get(data_config, "seed", 0)
    test_fraction = _get(data_config, "test_fraction", 0.3)
    if name == "digits":
        return digits(
            builtin_split,
            classes=tuple(_get(data_config, "classes", range(NUM_DIGITS))),
            per_class=_get(data_config, "per_class") or None,  # 0 keeps every image.
            seed=seed,
            test_fraction=test_fraction,
        )
    if name == "digits_hashtags":
        return digits_hashtags(builtin_split, seed=seed, test_fraction=test_fraction)
    if name == "photos":
        from jaxpretrain.data.photos import EVAL_PHOTOS, photos  # pylint: disable=import-outside-toplevel

        return photos(
            builtin_split,
            scale=_get(data_config, "scale", 256),
            tile=_get(data_config, "tile", 40),
            holdout=_get(data_config, "holdout", "photos"),
            eval_photos=tuple(_get(data_config, "eval_photos", EVAL_PHOTOS)),
        )
    if name == "mnist1d":
        from jaxpretrain.data.signals import mnist1d  # pylint: disable=import-outside-toplevel

        return mnist1d(
            builtin_split,
            seed=_get(data_config, "seed", 42),
            num_samples=_get(data_config, "num_samples", 5000),
        )
    if name == "text":
        from jaxpretrain.data.lm import lm_sources  # pylint: disable=import-outside-toplevel

        sources = lm_sources(data_config)  # Cached: "train" and "eval" tokenize once.
        return sources.train if split == "train" else sources.eval
    if name == "translation":
        from jaxpretrain.data.translation import (  # pylint: disable=import-outside-toplevel
            translation_sources,
        )

        pairs = translation_sources(data_config)  # Cached, like lm_sources.
        return pairs.train if split == "train" else pairs.eval
    if name == "words":
        from jaxpretrain.data.word_vectors import word_source  # pylint: disable=import-outside-toplevel

        return word_source(data_config, split)  # Cached, like lm_sources.
    if isinstance(name, str) and name.startswith("tfds:") and len(name) > len("tfds:"):
        tfds_name = name[len("tfds:") :]
        if split == "train":
            tfds_split = _get(data_config, "train_split", "train")
        else:
            base = tfds_name.split(":")[0].split("/")[0]
            tfds_split = _get(data_config, "eval_split", _TFDS_EVAL_SPLITS.get(base, "test"))
        return tfds_source(tfds_name, tfds_split, data_dir=_get(data_config, "data_dir") or None)
    raise ValueError(
        f"Unknown data set name {name!r}; expected 'digits', 'digits_hashtags', 'mnist1d', 'text',"
        " 'translation', 'words' or 'tfds:<name>'"
        " (e.g. 'tfds:cifar10', 'tfds:imagenet2012')."
    )


def data_tokenizer(data_config: Any) -> Any:
    """The `tokenization.Tokenizer` a data config's examples are encoded with, or None (images).

    Translation data gives a `translation.TokenizerPair` (source and target), saved as one file;
    word data a `word_vectors.WordData`, whose vocabulary is saved as vocab.txt.
    Training saves it into the workdir, so that sampling and evaluation decode with exactly the
    ids the model was trained on.
    """
    if _get(data_config, "name") == "text":
        from jaxpretrain.data.lm import lm_sources  # pylint: disable=import-outside-toplevel

        return lm_sources(data_config).tokenizer
    if _get(data_config, "name") == "translation":
        from jaxpretrain.data.translation import (  # pylint: disable=import-outside-toplevel
            translation_sources,
        )

        return translation_sources(data_config).tokenizers
    if _get(data_config, "name") == "words":  # Its save() writes <workdir>/vocab.txt.
        from jaxpretrain.data.word_vectors import word_data  # pylint: disable=import-outside-toplevel

        return word_data(data_config)
    return None
