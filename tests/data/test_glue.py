"""jaxpretrain.data.glue and text_tasks: GLUE from TFDS packed for BERT, on `tfds.testing.mock_data`
(which fakes records from the builder's features; importing tensorflow_datasets.text.glue
registers the builder without TensorFlow) and on hand-made records for the errors."""

import numpy as np
import pytest
import tensorflow_datasets as tfds

from jaxpretrain.data import GLUE_TASKS, WordPieceTokenizer, glue, load_dataset, task_of

EVAL_SPLITS = {"mnli": "validation_matched"}


def _config(vocab, task, **fields):
    return {"name": "glue", "task": task, "vocab": vocab, "max_length": 24, **fields}


@pytest.mark.parametrize("task", sorted(GLUE_TASKS))
def test_mock_glue_items(bert_vocab_dir, task):
    with tfds.testing.mock_data(num_examples=5):
        dataset = load_dataset(_config(bert_vocab_dir, task))
        assert isinstance(dataset.tokenizer, WordPieceTokenizer)
        assert (dataset.train.split, dataset.eval.split) == (
            "train",
            EVAL_SPLITS.get(task, "validation"),
        )
        spec = GLUE_TASKS[task]
        for source in (dataset.train, dataset.eval):
            assert len(source) == 5
            for i in range(len(source)):
                item = source[i]
                assert set(item) == {"tokens", "token_types", "valid", "label"}
                assert item["tokens"].shape == item["token_types"].shape == (24,)
                assert item["tokens"].dtype == item["token_types"].dtype == np.int32
                assert item["valid"].shape == (24,) and item["valid"].dtype == bool
                assert item["label"].shape == ()
                tokens, types, valid = item["tokens"], item["token_types"], item["valid"]
                tok = dataset.tokenizer
                assert tokens[0] == tok.cls_id and valid[0] and (tokens[~valid] == tok.pad_id).all()
                seps = np.flatnonzero(tokens == tok.sep_id)
                if spec.is_pair:  # [CLS] A [SEP] B [SEP]: types 1 from after the first [SEP].
                    assert len(seps) == 2 and valid.sum() == seps[1] + 1
                    np.testing.assert_array_equal(types[: seps[0] + 1], 0)
                    np.testing.assert_array_equal(types[seps[0] + 1 : seps[1] + 1], 1)
                    np.testing.assert_array_equal(types[seps[1] + 1 :], 0)
                else:
                    assert len(seps) == 1 and (types == 0).all()
                if spec.is_regression:
                    assert item["label"].dtype == np.float32 and item["label"] >= 0
                else:
                    assert item["label"].dtype == np.int32
                    assert 0 <= item["label"] < spec.num_classes


def test_max_train_examples_is_a_seeded_subset(bert_vocab_dir):
    with tfds.testing.mock_data(num_examples=20):
        full = load_dataset(_config(bert_vocab_dir, "sst2"))
        cut = load_dataset(_config(bert_vocab_dir, "sst2", max_train_examples=6))
        again = load_dataset(_config(bert_vocab_dir, "sst2", max_train_examples=6))
        other = load_dataset(_config(bert_vocab_dir, "sst2", max_train_examples=6, seed=1))
        assert len(cut.train) == 6 and len(cut.eval) == len(full.eval) == 20
        np.testing.assert_array_equal(cut.train.indices, again.train.indices)
        assert not np.array_equal(cut.train.indices, other.train.indices)
        i = int(cut.train.indices[2])
        np.testing.assert_array_equal(cut.train[2]["tokens"], full.train[i]["tokens"])
    with pytest.raises(ValueError, match="max_train_examples must be >= 0"):
        load_dataset(_config(bert_vocab_dir, "sst2", max_train_examples=-1))


def test_task_table_and_task_of():
    assert set(GLUE_TASKS) == {"cola", "sst2", "mrpc", "qqp", "stsb", "mnli", "qnli", "rte", "wnli"}
    cola, stsb, mnli, mrpc = (
        task_of({"name": "glue", "task": t}) for t in ("cola", "stsb", "mnli", "mrpc")
    )
    assert (cola.metrics, cola.num_classes, cola.features) == (("mcc",), 2, ("sentence",))
    assert (stsb.metrics, stsb.num_classes, stsb.is_regression) == (
        ("pearson", "spearman"),
        1,
        True,
    )
    assert (mnli.num_classes, mnli.eval_split, mnli.features) == (
        3,
        "validation_matched",
        ("premise", "hypothesis"),
    )
    assert mrpc.metrics == ("accuracy", "f1") and mrpc.is_pair
    assert GLUE_TASKS["qnli"].features == ("question", "sentence")
    assert GLUE_TASKS["qqp"].features == ("question1", "question2")


def test_unknown_task_and_missing_vocab_are_one_line_errors(bert_vocab_dir):
    with pytest.raises(ValueError, match="Unknown glue task 'sst3'") as error:
        load_dataset(_config(bert_vocab_dir, "sst3"))
    assert "'sst2'" in str(error.value) and "'wnli'" in str(error.value)
    for vocab in (None, ""):
        with pytest.raises(ValueError, match="set data.vocab to the pretraining workdir") as error:
            load_dataset(_config(vocab, "cola"))
        assert "\n" not in str(error.value) and "Hugging Face BERT folder" in str(error.value)
    with pytest.raises(ValueError, match="not a text task"):
        task_of({"name": "digits"})


@pytest.fixture
def records(monkeypatch):
    """Replace TFDS with hand-made records: `records[split] = [...]`."""
    table = {}
    monkeypatch.setattr(glue, "tfds_source", lambda name, split, data_dir=None: table[split])
    return table


def test_bytes_records_and_hf_prefix(bert_vocab_dir, records):
    records["train"] = [
        {"sentence1": b"In the beginning", "sentence2": b"God created", "label": np.int64(1)}
    ]
    records["validation"] = [
        {"sentence1": np.array(b"the earth"), "sentence2": "light", "label": 0}
    ]
    dataset = load_dataset(_config("hf:" + bert_vocab_dir, "mrpc"))
    tok = dataset.tokenizer
    expected = tok.pack(tok.encode("In the beginning"), tok.encode("God created"), max_length=24)
    np.testing.assert_array_equal(dataset.train[0]["tokens"], expected.tokens)
    assert dataset.eval[0]["label"] == 0 and dataset.eval[-1]["label"] == 0


@pytest.mark.parametrize(
    "task, record, message",
    [
        ("cola", {"sentence": b"a", "label": -1}, "unlabelled .*validation"),
        ("stsb", {"sentence1": b"a", "sentence2": b"b", "label": np.float32(-1)}, "unlabelled"),
        ("cola", {"sentence": b"a", "label": 2}, r"label 2 is outside \[0, 2\)"),
        ("mnli", {"premise": b"a", "hypothesis": b"b", "label": 3}, r"outside \[0, 3\)"),
        ("stsb", {"sentence1": b"a", "sentence2": b"b", "label": np.float32("nan")}, "finite"),
        ("mrpc", {"sentence1": b"a", "label": 1}, "lacks 'sentence2'.*sentence pair task"),
        ("cola", {"text": b"a", "label": 1}, "lacks 'sentence'"),
        ("cola", {"sentence": b"a"}, "lacks 'label'"),
    ],
)
def test_bad_records_fail_when_built_and_when_read(bert_vocab_dir, records, task, record, message):
    good = {"cola": {"sentence": b"a b", "label": 1}}.get(task, None)
    split = GLUE_TASKS[task].eval_split
    records["train"] = [record]
    records[split] = [record]
    with pytest.raises(ValueError, match=message) as error:
        load_dataset(_config(bert_vocab_dir, task))  # At build time: the first record.
    assert "\n" not in str(error.value)
    if good is not None:  # A later bad record fails when it is read.
        records["train"] = records[split] = [good, record]
        dataset = load_dataset(_config(bert_vocab_dir, task))
        dataset.train[0]
        with pytest.raises(ValueError, match=message):
            dataset.train[1]


def test_empty_split_is_an_error(bert_vocab_dir, records):
    records["train"] = []
    with pytest.raises(ValueError, match="has no records"):
        load_dataset(_config(bert_vocab_dir, "cola"))
