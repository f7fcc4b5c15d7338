"""bilm-tf's character scheme: ids, marks, padding, truncation, and the clear errors."""

import numpy as np
import pytest

from jaxpretrain.data.characters import (
    BOS,
    BOS_CHAR,
    BOW_CHAR,
    EOS,
    EOS_CHAR,
    EOW_CHAR,
    NUM_CHAR_IDS,
    PAD_CHAR,
    sentence_char_ids,
    tokenize,
    word_char_ids,
)


def test_a_word_is_its_bytes_between_word_marks_then_padding_all_shifted_by_one():
    ids = word_char_ids("Dé", max_chars=8)  # "é" is two UTF-8 bytes.
    expected = np.array([BOW_CHAR, ord("D"), 0xC3, 0xA9, EOW_CHAR] + [PAD_CHAR] * 3) + 1
    np.testing.assert_array_equal(ids, expected)
    assert ids.max() < NUM_CHAR_IDS and ids.min() >= 1  # 0 is left for "no token".


def test_sentence_marks_are_single_characters():
    np.testing.assert_array_equal(word_char_ids(BOS, 5), np.array([258, 256, 259, 260, 260]) + 1)
    np.testing.assert_array_equal(word_char_ids(EOS, 5)[:3], np.array([258, 257, 259]) + 1)
    assert BOS_CHAR == 256 and EOS_CHAR == 257


def test_a_long_word_keeps_its_first_bytes_and_its_end_mark():
    ids = word_char_ids("abcdefghij", max_chars=6)
    np.testing.assert_array_equal(ids, np.array([BOW_CHAR, *b"abcd", EOW_CHAR]) + 1)


def test_sentences_get_boundaries_and_zero_padding():
    chars = sentence_char_ids([["In", "the"], ["Amen"]], max_chars=6, length=5)
    assert chars.shape == (2, 5, 6) and chars.dtype == np.int32
    np.testing.assert_array_equal(chars[0, 0], word_char_ids(BOS, 6))
    np.testing.assert_array_equal(chars[0, 2], word_char_ids("the", 6))
    np.testing.assert_array_equal(chars[0, 3], word_char_ids(EOS, 6))
    np.testing.assert_array_equal(chars[0, 4], 0)
    np.testing.assert_array_equal(chars[1, 3:], 0)
    assert sentence_char_ids([["a", "b", "c"]]).shape == (1, 5, 50)  # length 0: the longest.


def test_bad_sentences_are_named():
    with pytest.raises(ValueError, match="sentence 1 is empty"):
        sentence_char_ids([["a"], []])
    with pytest.raises(ValueError, match="3 tokens, more than the 2"):
        sentence_char_ids([["a", "b", "c"]], length=4)
    with pytest.raises(ValueError, match="max_chars must be >= 3"):
        word_char_ids("a", max_chars=2)


def test_tokens_split_punctuation_and_keep_case():
    assert tokenize("And God said, Let there be light: and it was.") == [
        "And", "God", "said", ",", "Let", "there", "be", "light", ":", "and", "it", "was", ".",
    ]  # fmt: skip
    assert tokenize("the LORD's  word") == ["the", "LORD's", "word"]
