"""Export to the word2vec/fastText text .vec format, read back by gensim."""

import numpy as np
import pytest

from jaxpretrain.interop import save_vec


def test_gensim_loads_the_vec_file(tmp_path):
    gensim = pytest.importorskip("gensim")
    words = ["in", "the", "beginning", "lord's"]
    vectors = np.random.default_rng(0).normal(size=(4, 5)).astype(np.float32)
    path = save_vec(str(tmp_path / "w.vec"), words, vectors)
    loaded = gensim.models.KeyedVectors.load_word2vec_format(path, binary=False)
    assert loaded.index_to_key == words
    np.testing.assert_allclose(loaded.vectors, vectors, rtol=1e-5)


def test_bad_words_and_shapes_are_errors(tmp_path):
    with pytest.raises(ValueError, match="one vector per word"):
        save_vec(str(tmp_path / "w.vec"), ["a"], np.zeros((2, 3)))
    with pytest.raises(ValueError, match="cannot be empty or hold whitespace"):
        save_vec(str(tmp_path / "w.vec"), ["a b"], np.zeros((1, 3)))
