"""Scores of a whole evaluation split, from every example's prediction: the GLUE metrics.

Accuracy, F1 and Matthews correlation come from scikit-learn, Pearson and Spearman correlation
from SciPy. Unlike a loss, F1 and the correlations are not means over examples, so they cannot be
averaged over batches: the trainer gathers the split's predictions first (``train.experiment``).

GLUE scores each task by (Wang et al. 2019, "GLUE: A Multi-Task Benchmark and Analysis Platform
for Natural Language Understanding", Table 1): CoLA by Matthews correlation; SST-2, MNLI, QNLI,
RTE and WNLI by accuracy; MRPC and QQP by accuracy and F1 (of class 1); STS-B by Pearson and
Spearman correlation. Host-side numpy only.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from jaxpretrain.errors import ConfigError

Score = Callable[[np.ndarray, np.ndarray], float]


def _accuracy(predictions: np.ndarray, labels: np.ndarray) -> float:
    from sklearn.metrics import accuracy_score  # pylint: disable=import-outside-toplevel

    return float(accuracy_score(labels, predictions))


def _f1(predictions: np.ndarray, labels: np.ndarray) -> float:
    from sklearn.metrics import f1_score  # pylint: disable=import-outside-toplevel

    return float(f1_score(labels, predictions, pos_label=1, zero_division=0.0))


def _mcc(predictions: np.ndarray, labels: np.ndarray) -> float:
    from sklearn.metrics import matthews_corrcoef  # pylint: disable=import-outside-toplevel

    return float(matthews_corrcoef(labels, predictions))


def _pearson(predictions: np.ndarray, labels: np.ndarray) -> float:
    from scipy.stats import pearsonr  # pylint: disable=import-outside-toplevel

    return _correlation(pearsonr, predictions, labels)


def _spearman(predictions: np.ndarray, labels: np.ndarray) -> float:
    from scipy.stats import spearmanr  # pylint: disable=import-outside-toplevel

    return _correlation(spearmanr, predictions, labels)


def _correlation(fn, predictions: np.ndarray, labels: np.ndarray) -> float:
    """A correlation, 0 where it is undefined (constant predictions, as at initialisation)."""
    if np.ptp(predictions) == 0 or np.ptp(labels) == 0:
        return 0.0
    return float(fn(predictions, labels)[0])


# Metric name -> score(predictions [N], labels [N]).
SCORES: dict[str, Score] = {
    "accuracy": _accuracy,
    "f1": _f1,
    "mcc": _mcc,
    "pearson": _pearson,
    "spearman": _spearman,
}


def check_names(names: Sequence[str]) -> tuple[str, ...]:
    """`names` as a tuple, each a key of `SCORES`; one error naming the unknown ones."""
    unknown = [name for name in names if name not in SCORES]
    if unknown:
        raise ConfigError(
            f"unknown split metrics {unknown}; choose from {', '.join(SCORES)}"
            " (config.data.metrics)."
        )
    return tuple(names)


def split_scores(
    names: Sequence[str], predictions: np.ndarray, labels: np.ndarray
) -> dict[str, float]:
    """{name: score} over a whole split.

    Args:
        names: keys of `SCORES`, e.g. ("accuracy", "f1").
        predictions: [N] predicted class ids, or predicted values for a regression.
        labels: [N] true class ids or values.
    """
    predictions, labels = np.asarray(predictions).reshape(-1), np.asarray(labels).reshape(-1)
    if predictions.shape != labels.shape or not predictions.size:
        raise ConfigError(
            f"split_scores needs equal, non-empty predictions and labels; got {predictions.shape}"
            f" and {labels.shape}."
        )
    return {name: SCORES[name](predictions, labels) for name in check_names(names)}
