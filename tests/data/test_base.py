"""jaxpretrain.data.base: ArraySource, Dataset equality, the TFDS not-found error."""

import numpy as np
import pytest

from jaxpretrain.data import ArraySource, Dataset, DatasetNotFoundError, build_source, tfds_source


def test_array_source_indexing_and_validation():
    src = ArraySource({"x": np.arange(6).reshape(3, 2), "y": np.array([5, 6, 7])})
    assert len(src) == 3
    np.testing.assert_array_equal(src[1]["x"], [2, 3])
    assert src[-1]["y"] == 7
    with pytest.raises(IndexError):
        src[3]
    with pytest.raises(ValueError, match="leading dimension"):
        ArraySource({"x": np.zeros(3), "y": np.zeros(4)})


def test_datasets_of_equal_configs_are_equal_and_hash_alike():
    a = Dataset(None, None, None, {"name": "digits", "seed": 1, "classes": (2, 5)})
    b = Dataset([1], [2], None, {"classes": [2, 5], "seed": 1, "name": "digits"})
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    assert a != Dataset(None, None, None, {"name": "digits", "seed": 2, "classes": (2, 5)})


def test_tfds_missing_dataset_is_clear_error(tmp_path, monkeypatch):
    pytest.importorskip("tensorflow_datasets")
    data_dir = str(tmp_path / "nowhere")
    with pytest.raises(DatasetNotFoundError, match="tfds build cifar10") as info:
        build_source({"name": "tfds:cifar10", "data_dir": data_dir}, "train")
    assert isinstance(info.value, FileNotFoundError)
    assert data_dir in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(DatasetNotFoundError, match="downloads/manual"):
        tfds_source("imagenet2012", "validation", data_dir=data_dir)
    # The default data_dir fails differently inside tfds (KeyError); same error for the user.
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "default"))
    with pytest.raises(DatasetNotFoundError, match="tfds build cifar10"):
        tfds_source("cifar10", "train")
    assert not (tmp_path / "nowhere").exists()  # nothing was downloaded or built
