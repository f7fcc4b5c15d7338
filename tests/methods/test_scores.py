"""methods.scores: the split scores against their textbook formulas, computed here in NumPy."""

import numpy as np
import pytest

from jaxpretrain.methods.scores import SCORES, split_scores

RNG = np.random.default_rng(0)
LABELS = RNG.integers(0, 2, 200)
PREDICTIONS = np.where(RNG.random(200) < 0.8, LABELS, 1 - LABELS)  # ~80% right.


def _confusion(p, y):
    tp = np.sum((p == 1) & (y == 1))
    tn = np.sum((p == 0) & (y == 0))
    fp = np.sum((p == 1) & (y == 0))
    fn = np.sum((p == 0) & (y == 1))
    return tp, tn, fp, fn


def test_accuracy_f1_mcc_match_their_formulas():
    tp, tn, fp, fn = _confusion(PREDICTIONS, LABELS)
    scores = split_scores(("accuracy", "f1", "mcc"), PREDICTIONS, LABELS)
    np.testing.assert_allclose(scores["accuracy"], (tp + tn) / 200)
    np.testing.assert_allclose(scores["f1"], 2 * tp / (2 * tp + fp + fn))
    mcc = (tp * tn - fp * fn) / np.sqrt(float((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn)))
    np.testing.assert_allclose(scores["mcc"], mcc)
    assert split_scores(("mcc",), LABELS, LABELS)["mcc"] == 1.0
    assert split_scores(("mcc",), 1 - LABELS, LABELS)["mcc"] == -1.0


def test_multiclass_mcc_is_zero_for_constant_predictions():
    labels = np.arange(30) % 3
    assert split_scores(("mcc", "accuracy"), np.zeros(30), labels) == {
        "mcc": 0.0,
        "accuracy": pytest.approx(1 / 3),
    }


def test_pearson_and_spearman_match_their_formulas():
    x = RNG.normal(size=100)
    y = x + 0.5 * RNG.normal(size=100)
    scores = split_scores(("pearson", "spearman"), x, y)
    np.testing.assert_allclose(scores["pearson"], np.corrcoef(x, y)[0, 1], rtol=1e-10)
    rank = lambda v: np.argsort(np.argsort(v))  # noqa: E731 (no ties in continuous draws)
    np.testing.assert_allclose(scores["spearman"], np.corrcoef(rank(x), rank(y))[0, 1], rtol=1e-10)
    # Constant predictions (an untrained regression head at zero): 0, not NaN.
    assert split_scores(("pearson", "spearman"), np.zeros(100), y) == {
        "pearson": 0.0,
        "spearman": 0.0,
    }


def test_bad_names_and_shapes_are_clear_errors():
    with pytest.raises(ValueError, match=r"unknown split metrics \['auc'\]; choose from accuracy"):
        split_scores(("accuracy", "auc"), LABELS, LABELS)
    with pytest.raises(ValueError, match="equal, non-empty"):
        split_scores(("accuracy",), LABELS[:3], LABELS)
    assert set(SCORES) == {"accuracy", "f1", "mcc", "pearson", "spearman"}


def test_every_text_task_metric_is_scored():
    from jaxpretrain.data.text_tasks import GLUE_TASKS, KJV_TASKS, METRICS

    assert set(METRICS) == set(SCORES)
    for task in (*GLUE_TASKS.values(), *KJV_TASKS.values()):
        assert set(task.metrics) <= set(SCORES), task
