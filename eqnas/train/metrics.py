"""Accuracy and AUC computed the way MedMNIST v2 computes them (medmnist/evaluator.py).

multiclass: accuracy of the arg-max; AUC = mean over classes of the one-vs-rest ROC AUC of the
softmax score. (For two classes this equals MedMNIST's binary AUC: both one-vs-rest AUCs equal
the AUC of the positive-class score.)
multilabel: accuracy = mean over labels of the accuracy of sigmoid scores thresholded at 0.5;
AUC = mean over labels of each label's ROC AUC.

AUC is the Mann-Whitney statistic on average ranks (ties count one half), identical to
`sklearn.metrics.roc_auc_score`. A class or label without both positives and negatives in the
split has no AUC; it is left out of the mean (MedMNIST would raise), and a split where no class
has one gives NaN.
"""
from __future__ import annotations

import numpy as np
from scipy.stats import rankdata

THRESHOLD = 0.5


def binary_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """ROC AUC of `scores` for 0/1 `labels`; NaN when only one class is present."""
    labels = labels.astype(bool)
    positives, negatives = int(labels.sum()), int((~labels).sum())
    if positives == 0 or negatives == 0:
        return float("nan")
    ranks = rankdata(scores)  # average ranks for ties
    return float((ranks[labels].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def _mean(values: list[float]) -> float:
    finite = [v for v in values if not np.isnan(v)]
    return float(np.mean(finite)) if finite else float("nan")


def scores_from_logits(logits: np.ndarray, task: str) -> np.ndarray:
    """Softmax (multiclass) or sigmoid (multilabel) scores, [N, K]."""
    if task == "multilabel":
        return 1.0 / (1.0 + np.exp(-logits))
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def accuracy(scores: np.ndarray, targets: np.ndarray, task: str) -> float:
    """targets: class indices [N] (multiclass) or 0/1 matrix [N, K] (multilabel)."""
    if task == "multilabel":
        return float(((scores > THRESHOLD) == targets.astype(bool)).mean())
    return float((scores.argmax(axis=1) == targets).mean())


def auc(scores: np.ndarray, targets: np.ndarray, task: str) -> float:
    if task == "multilabel":
        return _mean([binary_auc(targets[:, k], scores[:, k]) for k in range(scores.shape[1])])
    return _mean([binary_auc(targets == k, scores[:, k]) for k in range(scores.shape[1])])
