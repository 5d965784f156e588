"""Classification metrics: thin wrappers over sklearn.metrics, plus plotting helpers that draw on an Axes.

Inputs may be torch tensors, NumPy arrays or lists. `scores` are any monotone confidence for the
positive class (logits or probabilities); `y_true` holds 0/1 labels (binary) or class indices.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from sklearn import metrics as skm

from mllab.core.errors import BadInput


@torch.no_grad()
def accuracy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Share of rows whose arg-max output is the label: model(x) (N, C) against y (N,) class indices."""
    return float((model(x).argmax(dim=1) == y).float().mean())


def _numpy(values: Any) -> np.ndarray:
    if hasattr(values, "detach"):
        values = values.detach().cpu().numpy()
    return np.asarray(values)


def _binary(y_true: Any, scores: Any) -> tuple[np.ndarray, np.ndarray]:
    y, s = _numpy(y_true).ravel(), _numpy(scores).ravel().astype(np.float64)
    if len(y) != len(s):
        raise BadInput(f"metrics: {len(y)} labels but {len(s)} scores; give one score per sample")
    if set(np.unique(y)) != {0, 1}:
        raise BadInput(f"metrics: binary curves need both labels 0 and 1, got {sorted(np.unique(y).tolist())}")
    return y.astype(np.int64), s


@dataclass
class RocCurve:
    fpr: np.ndarray  # false-positive rate FP / (FP + TN) at each threshold, increasing
    tpr: np.ndarray  # true-positive rate (recall) TP / (TP + FN)
    thresholds: np.ndarray
    auc: float  # area under the curve: P(score of a random positive > score of a random negative)


@dataclass
class PrCurve:
    precision: np.ndarray  # TP / (TP + FP) at each threshold
    recall: np.ndarray  # TP / (TP + FN), decreasing
    thresholds: np.ndarray
    average_precision: float  # Σ_n (R_n - R_{n-1}) P_n
    prevalence: float  # share of positives: the precision of a random classifier

    def precision_at_recall(self, recall: float) -> float:
        """The best precision among operating points whose recall is at least `recall`."""
        return float(self.precision[self.recall >= recall].max())


def roc(y_true: Any, scores: Any) -> RocCurve:
    """ROC curve and its AUC (sklearn.metrics.roc_curve / roc_auc_score)."""
    y, s = _binary(y_true, scores)
    fpr, tpr, thresholds = skm.roc_curve(y, s)
    return RocCurve(fpr, tpr, thresholds, float(skm.roc_auc_score(y, s)))


def precision_recall(y_true: Any, scores: Any) -> PrCurve:
    """Precision-recall curve and average precision (sklearn.metrics.precision_recall_curve / average_precision_score)."""
    y, s = _binary(y_true, scores)
    precision, recall, thresholds = skm.precision_recall_curve(y, s)
    return PrCurve(precision, recall, thresholds, float(skm.average_precision_score(y, s)), float(y.mean()))


def confusion(y_true: Any, y_pred: Any, n_classes: int) -> np.ndarray:
    """(n_classes, n_classes) counts; row = true class, column = predicted class."""
    return skm.confusion_matrix(_numpy(y_true).ravel(), _numpy(y_pred).ravel(), labels=list(range(n_classes)))


def per_class_recall(y_true: Any, y_pred: Any, n_classes: int) -> np.ndarray:
    """(n_classes,) recall of each class, TP_c / (samples of class c); 0 for a class with no samples."""
    return skm.recall_score(_numpy(y_true).ravel(), _numpy(y_pred).ravel(), labels=list(range(n_classes)),
                            average=None, zero_division=0)


def plot_roc(ax: Any, curve: RocCurve, label: str = "") -> None:
    """Draw the ROC curve with its AUC in the legend, and the chance diagonal."""
    ax.plot(curve.fpr, curve.tpr, label=f"{label} (AUC {curve.auc:.3f})".strip())
    ax.plot([0, 1], [0, 1], color="gray", linestyle=":", linewidth=1)
    ax.set(xlabel="false-positive rate", ylabel="true-positive rate (recall)", xlim=(0, 1), ylim=(0, 1.02))
    ax.legend(loc="lower right", fontsize=8)


def plot_pr(ax: Any, curve: PrCurve, label: str = "") -> None:
    """Draw the precision-recall curve with its AP in the legend, and the chance level (the prevalence)."""
    ax.step(curve.recall, curve.precision, where="post", label=f"{label} (AP {curve.average_precision:.3f})".strip())
    ax.axhline(curve.prevalence, color="gray", linestyle=":", linewidth=1)
    ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.02))
    ax.legend(loc="lower left", fontsize=8)


def plot_confusion(ax: Any, matrix: np.ndarray, class_names: list[str] | None = None) -> None:
    """Draw a confusion matrix (rows true, columns predicted) with its counts."""
    names = class_names or [str(i) for i in range(len(matrix))]
    skm.ConfusionMatrixDisplay(matrix, display_labels=names).plot(ax=ax, colorbar=False)
