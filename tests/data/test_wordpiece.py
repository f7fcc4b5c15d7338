"""Tests for jaxpretrain.data.wordpiece (BERT's tokenizer) and the KJV's verses with references."""

import os
import subprocess
import sys

import numpy as np
import pytest
import transformers

from jaxpretrain.data import corpus, wordpiece

TEXTS = [
    "In the beginning God created the heaven and the earth.",
    "And the earth was without form, and void; and darkness was upon the face of the deep.",
    "And God said, Let there be light: and there was light.",
] * 20


@pytest.fixture(scope="module")
def tok():
    return wordpiece.WordPieceTokenizer.train(TEXTS, vocab_size=120)


def test_special_tokens_take_the_first_ids(tok):
    assert tok.tokens[:5] == list(wordpiece.SPECIAL_TOKENS)
    assert (tok.pad_id, tok.unk_id, tok.cls_id, tok.sep_id, tok.mask_id) == (0, 1, 2, 3, 4)
    assert tok.vocab_size <= 120 and len(tok.tokens) == tok.vocab_size


def test_encode_lowercases_splits_and_decodes(tok):
    ids = tok.encode("LIGHT, Earth!")
    assert [tok.tokens[i] for i in ids][:3] == ["light", ",", "earth"]
    assert tok.decode(ids) == "light, earth!" or "[UNK]" in tok.decode(ids)
    unknown = tok.encode("zzqx")
    assert all(not tok.tokens[i].startswith("##") or i != tok.unk_id for i in unknown)
    assert tok.continues_word.dtype == bool and tok.continues_word.shape == (tok.vocab_size,)
    assert tok.continues_word[[tok.tokens.index(t) for t in tok.tokens if t.startswith("##")]].all()


def test_save_load_round_trip_and_matches_transformers_bert_tokenizer(tok, tmp_path):
    path = tok.save(str(tmp_path))
    assert os.path.basename(path) == "vocab.txt"
    loaded = wordpiece.WordPieceTokenizer.load(str(tmp_path))
    assert loaded.tokens == tok.tokens and loaded.lowercase
    reference = transformers.BertTokenizer.from_pretrained(str(tmp_path))
    for text in TEXTS[:3] + ["Light WITHOUT form; void!"]:
        ours = loaded.encode(text).tolist()
        assert ours == reference.encode(text, add_special_tokens=False)
        assert ours == tok.encode(text).tolist()


@pytest.mark.parametrize(
    "lines, problem",
    [
        (["[PAD]", "[UNK]", "[SEP]", "a"], "lacks [CLS], [MASK]"),
        ([], "is empty"),
        (["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "a"], "repeats tokens ['a']"),
    ],
)
def test_bad_vocab_txt_is_one_clear_error(tmp_path, lines, problem):
    path = tmp_path / "vocab.txt"
    path.write_text("".join(line + "\n" for line in lines))
    with pytest.raises(ValueError, match=problem.replace("[", r"\[").replace("]", r"\]")):
        wordpiece.WordPieceTokenizer.from_vocab(str(path))
    with pytest.raises(FileNotFoundError, match="vocab.txt of a BERT"):
        wordpiece.WordPieceTokenizer.from_vocab(str(tmp_path / "missing.txt"))


def test_pack_single_and_pair(tok):
    a, b = np.arange(10, 17), np.arange(20, 23)
    single = tok.pack(a, max_length=12)
    assert single.tokens.tolist() == [2, *range(10, 17), 3, 0, 0, 0]
    assert single.valid.tolist() == [True] * 9 + [False] * 3
    assert not single.token_types.any()
    pair = tok.pack(a, b, max_length=10)  # 7 + 3 > 10 - 3: a (the longer) loses 3 at its end.
    assert pair.tokens.tolist() == [2, 10, 11, 12, 13, 3, 20, 21, 22, 3]
    assert pair.token_types.tolist() == [0] * 6 + [1] * 4
    assert pair.valid.all()
    with pytest.raises(ValueError, match="at least 5"):
        tok.pack(a, b, max_length=4)


def test_kjv_verses_have_books_chapters_and_numbers():
    verses = corpus.kjv_verses()
    assert len(verses) == 31102
    assert verses[0] == corpus.Verse(
        0, 1, 1, "In the beginning God created the heaven and the earth."
    )
    assert (verses[-1].book, verses[-1].chapter, verses[-1].number) == (65, 22, 21)
    assert corpus.KJV_BOOKS[verses[-1].book] == "Revelation" and len(corpus.KJV_BOOKS) == 66
    assert corpus.kjv_text() == "\n".join(v.text for v in verses) + "\n"
    assert len({(v.book, v.chapter) for v in verses}) == 1189
    held = [v for v in verses if corpus.kjv_heldout(v, 10)]
    assert len({(v.book, v.chapter) for v in held}) == 119  # Chapters 5, 15, ..., 1185.
    assert {corpus.KJV_BOOKS[v.book] for v in held} >= {"Genesis", "Psalms", "Matthew", "Romans"}
    assert not any(corpus.kjv_heldout(v, 0) for v in verses[:100])


def test_training_is_deterministic_across_processes():
    """tokenizers' WordPieceTrainer numbers "##" pieces in hash-map order, which differs between
    processes (huggingface/tokenizers#1794); train_wordpiece reserves them in sorted order."""
    code = (
        "import hashlib; from jaxpretrain.data import corpus, wordpiece;"
        " t = wordpiece.WordPieceTokenizer.train(corpus.kjv_text().splitlines()[:3000],"
        " vocab_size=1500); print(hashlib.sha256('\\n'.join(t.tokens).encode()).hexdigest())"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    runs = {
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
        ).stdout.strip()
        for _ in range(3)
    }
    assert len(runs) == 1
