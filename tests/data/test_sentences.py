"""The "sentences" data set: vocabulary, greedy packing, segments, characters, and the splits."""

import numpy as np
import pytest

from jaxpretrain.data import load_dataset
from jaxpretrain.data.characters import BOS, EOS, word_char_ids
from jaxpretrain.data.sentences import SPECIALS, UNK, pack_rows


def test_pack_rows_is_greedy_and_keeps_the_order():
    assert pack_rows([3, 4, 2, 5, 1], 7) == [[0, 1], [2, 3], [4]]
    assert pack_rows([7, 7], 7) == [[0], [1]]


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "text.txt"
    lines = ["the cat sat .", "the dog sat .", "a b c d e f g h", "the cat ran .", "zebra ."]
    path.write_text("\n".join(lines) + "\n")
    return {"name": "sentences", "corpus": f"files:{path}", "eval_fraction": 0.4, "length": 8}


def test_rows_pack_whole_sentences_with_segments_ids_and_characters(corpus):
    data = load_dataset(corpus)
    vocab = data.tokenizer
    # Training lines: the first 3; "the", "sat", "." occur twice (min_count 2), the rest are <UNK>.
    assert vocab.words.words == (".", "sat", "the")  # By count, ties alphabetical.
    assert vocab.vocab_size == len(SPECIALS) + 3
    item = data.train[0]
    tokens = [BOS, "the", "cat", "sat", ".", EOS]
    assert list(item["segments"]) == [1] * 6 + [0, 0]  # The second sentence (6 tokens) won't fit.
    np.testing.assert_array_equal(item["ids"][:6], vocab.ids(tokens))
    assert item["ids"][2] == UNK and list(item["ids"][6:]) == [-1, -1]
    for position, token in enumerate(tokens):
        np.testing.assert_array_equal(item["chars"][position], word_char_ids(token))
    np.testing.assert_array_equal(item["chars"][6:], 0)
    # 8 tokens in a row of 8: "a b c d e f g h" (10 with marks) is cut into pieces of 6 + 2.
    segments = [list(data.train[i]["segments"]) for i in range(len(data.train))]
    assert [1] * 8 in segments
    assert data.train.num_tokens == 6 + 6 + 8 + 4
    # Eval: the last 40% of the lines, never trained on; "zebra" has characters, an <UNK> id.
    assert len(data.eval) == 2 and data.eval.num_tokens == 6 + 4
    zebra = data.eval[1]
    np.testing.assert_array_equal(zebra["chars"][1], word_char_ids("zebra"))
    assert zebra["ids"][1] == UNK


def test_kjv_eval_is_the_held_out_chapters():
    data = load_dataset({"name": "sentences", "corpus": "kjv"})
    every = load_dataset({"name": "sentences", "corpus": "kjv", "heldout_every": 5})
    # Every verse is a sentence of one split or the other: 31,102 verses, <S> and </S> each.
    sentences = int((data.train.ids == 0).sum() + (data.eval.ids == 0).sum())
    assert sentences == 31102
    assert data.eval.num_tokens < every.eval.num_tokens  # A fifth of the chapters > a tenth.
    assert data.eval.num_tokens / (data.train.num_tokens + data.eval.num_tokens) == pytest.approx(
        0.1, abs=0.02
    )


def test_bad_fields_are_named(corpus):
    with pytest.raises(ValueError, match="data.length must be >= 3"):
        load_dataset({**corpus, "length": 2})
    with pytest.raises(ValueError, match="eval sentences"):
        load_dataset({**corpus, "eval_fraction": 0.0})
