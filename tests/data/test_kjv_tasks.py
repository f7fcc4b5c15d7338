"""jaxpretrain.data.kjv_tasks: the offline BERT fine-tuning tasks on the KJV's held-out chapters."""

import collections

import numpy as np
import pytest

from jaxpretrain.data import (
    KJV_TASKS,
    SECTIONS,
    WordPieceTokenizer,
    corpus,
    kjv_task_examples,
    kjv_tasks,
    load_dataset,
    task_of,
)

T = 32


def _config(vocab, task, **fields):
    return {"name": "kjv_task", "task": task, "vocab": vocab, "max_length": T, **fields}


@pytest.fixture(scope="module", params=sorted(KJV_TASKS))
def built(request, bert_vocab_dir):
    return request.param, load_dataset(_config(bert_vocab_dir, request.param))


def _chapters(examples):
    return {(v.book, v.chapter) for e in examples for v in e.verses}


def test_items_shapes_classes_and_packing(built):
    task, dataset = built
    spec = task_of(dataset.config)
    assert isinstance(dataset.tokenizer, WordPieceTokenizer)
    for split, source in (("train", dataset.train), ("eval", dataset.eval)):
        arrays = source.arrays
        assert set(arrays) == {"tokens", "token_types", "valid", "label"}
        n = len(source)
        assert (
            arrays["tokens"].shape == arrays["token_types"].shape == arrays["valid"].shape == (n, T)
        )
        assert arrays["tokens"].dtype == arrays["token_types"].dtype == np.int32
        assert arrays["valid"].dtype == bool
        assert arrays["label"].shape == (n,) and arrays["label"].dtype == np.int32
        # Every class occurs in both splits.
        np.testing.assert_array_equal(np.unique(arrays["label"]), np.arange(spec.num_classes))
        assert ((arrays["token_types"] == 1).any(axis=1) == spec.is_pair).all()
        examples = kjv_task_examples(task, split)
        assert len(examples) == n
        tok = dataset.tokenizer
        for i in (0, n // 2, n - 1):  # The items are the examples' texts, packed.
            ids = [tok.encode(text) for text in examples[i].texts]
            expected = tok.pack(*ids, max_length=T)
            np.testing.assert_array_equal(source[i]["tokens"], expected.tokens)
            np.testing.assert_array_equal(source[i]["token_types"], expected.token_types)
            assert source[i]["label"] == examples[i].label


@pytest.mark.parametrize("task", sorted(KJV_TASKS))
def test_only_heldout_chapters_split_between_train_and_eval(task):
    train, evaluation = (kjv_task_examples(task, s) for s in ("train", "eval"))
    assert not _chapters(train) & _chapters(evaluation)
    assert all(corpus.kjv_heldout(v, 10) for e in train + evaluation for v in e.verses)
    # The held-out chapters alternate: each split has about half of them.
    held = {(v.book, v.chapter) for v in corpus.kjv_verses() if corpus.kjv_heldout(v, 10)}
    assert _chapters(train) | _chapters(evaluation) <= held
    assert abs(len(_chapters(train)) - len(_chapters(evaluation))) <= 1
    other = kjv_task_examples(task, "train", heldout_every=20)
    assert all(corpus.kjv_heldout(v, 20) for e in other for v in e.verses)


def test_section_labels_and_counts():
    for split in ("train", "eval"):
        examples = kjv_task_examples("section", split)
        for e in examples:
            (verse,) = e.verses
            assert SECTIONS[e.label] == SECTIONS[kjv_tasks.section_of(verse.book)]
        counts = np.bincount([e.label for e in examples], minlength=6)
        assert (counts > 100).all(), counts  # Every part of the Bible is well represented.
    names = corpus.KJV_BOOKS
    assert [kjv_tasks.section_of(names.index(b)) for b in ("Deuteronomy", "Joshua", "Esther")] == [
        0,
        1,
        1,
    ]
    assert [
        kjv_tasks.section_of(names.index(b)) for b in ("Song of Solomon", "Isaiah", "Malachi")
    ] == [2, 3, 3]
    assert [
        kjv_tasks.section_of(names.index(b)) for b in ("Matthew", "Acts", "Romans", "Revelation")
    ] == [4, 4, 5, 5]


def test_same_book_pairs_are_balanced_and_labelled_by_book():
    for split in ("train", "eval"):
        examples = kjv_task_examples("same_book", split)
        labels = np.array([e.label for e in examples])
        assert abs(labels.sum() - len(labels) / 2) <= 0.5
        for e in examples:
            a, b = e.verses
            assert e.label == int(a.book == b.book) and a != b
            assert e.texts == (a.text, b.text)
    seeded = kjv_task_examples("same_book", "train", seed=1)
    assert seeded != kjv_task_examples("same_book", "train")
    assert kjv_task_examples("same_book", "train", seed=1) == seeded


def test_grammar_corruption_swaps_two_different_words_once_per_verse():
    for split in ("train", "eval"):
        examples = kjv_task_examples("grammar", split)
        verses = [e.verses[0] for e in examples]
        assert len(set(verses)) == len(verses)  # One form of each verse only.
        labels = np.array([e.label for e in examples])
        assert abs(labels.sum() - len(labels) / 2) <= 0.5
        for e in examples:
            (text,), (verse,) = e.texts, e.verses
            original, words = verse.text.split(), text.split()
            assert len(original) >= 4 and sorted(words) == sorted(original)
            changed = [p for p, (w, o) in enumerate(zip(words, original)) if w != o]
            if e.label:
                assert text == " ".join(original)
            else:
                assert text != " ".join(original) and len(changed) == 2
                p, q = changed
                assert (words[p], words[q]) == (original[q], original[p])
                assert words[p].isalpha() and words[q].isalpha()


@pytest.mark.parametrize("task, per_class", [("section", 7), ("same_book", 5), ("grammar", 9)])
def test_per_class_budgets_cut_train_only(bert_vocab_dir, task, per_class):
    dataset = load_dataset(_config(bert_vocab_dir, task, per_class=per_class, seed=3))
    k = KJV_TASKS[task].num_classes
    np.testing.assert_array_equal(np.bincount(dataset.train.arrays["label"]), [per_class] * k)
    full = kjv_task_examples(task, "eval", seed=3)
    assert len(dataset.eval) == len(full)
    budget = kjv_task_examples(task, "train", per_class=per_class, seed=3)
    assert set(budget) <= set(kjv_task_examples(task, "train", seed=3))
    assert kjv_task_examples(task, "train", per_class=per_class, seed=4) != budget


def test_deterministic_and_cached(bert_vocab_dir):
    one = load_dataset(_config(bert_vocab_dir, "grammar"))
    two = load_dataset(_config(bert_vocab_dir, "grammar"))
    assert one == two and one.train is two.train  # Built once per config values.
    hf = load_dataset(_config("hf:" + bert_vocab_dir, "grammar"))
    np.testing.assert_array_equal(hf.train.arrays["tokens"], one.train.arrays["tokens"])
    with pytest.raises(ValueError, match="read-only"):
        one.train.arrays["label"][0] = 1


def test_errors(bert_vocab_dir):
    with pytest.raises(ValueError, match="Unknown kjv_task task 'topic'") as error:
        load_dataset(_config(bert_vocab_dir, "topic"))
    assert all(repr(t) in str(error.value) for t in KJV_TASKS)
    with pytest.raises(ValueError, match="set data.vocab to the pretraining workdir") as error:
        load_dataset(_config(None, "section"))
    assert "\n" not in str(error.value)
    with pytest.raises(ValueError, match="heldout_every"):
        load_dataset(_config(bert_vocab_dir, "section", heldout_every=0))
    with pytest.raises(ValueError, match="per_class must be >= 0"):
        load_dataset(_config(bert_vocab_dir, "section", per_class=-1))
    with pytest.raises(ValueError, match="max_length must be at least 5"):
        load_dataset(_config(bert_vocab_dir, "section", max_length=4))
    with pytest.raises(FileNotFoundError, match="vocab"):
        load_dataset(_config(bert_vocab_dir + "/missing", "section"))


def test_task_table():
    assert {t: (s.features, s.num_classes, s.metrics) for t, s in KJV_TASKS.items()} == {
        "section": (("verse",), 6, ("accuracy",)),
        "same_book": (("verse1", "verse2"), 2, ("accuracy", "f1")),
        "grammar": (("verse",), 2, ("mcc",)),
    }
    assert collections.Counter(len(s.features) for s in KJV_TASKS.values()) == {1: 2, 2: 1}
