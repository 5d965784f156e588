"""Metric wrappers on inputs small enough to check by hand."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from mllab.core.errors import BadInput  # noqa: E402
from mllab.metrics import (confusion, per_class_recall, plot_confusion, plot_pr, plot_roc,  # noqa: E402
                           precision_recall, roc)

# Ranked by score: 0.8 (pos), 0.4 (neg), 0.35 (pos), 0.1 (neg).
Y = [0, 0, 1, 1]
SCORES = [0.1, 0.4, 0.35, 0.8]


def test_roc_auc_counts_correctly_ordered_pairs():
    curve = roc(torch.tensor(Y), torch.tensor(SCORES))
    assert curve.auc == pytest.approx(3 / 4)  # 3 of the 4 (positive, negative) pairs are ordered right
    np.testing.assert_allclose(curve.fpr, [0, 0, 0.5, 0.5, 1])
    np.testing.assert_allclose(curve.tpr, [0, 0.5, 0.5, 1, 1])


def test_precision_recall_and_average_precision():
    curve = precision_recall(np.array(Y), np.array(SCORES))
    assert curve.average_precision == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)  # Σ (R_n - R_{n-1}) P_n
    assert curve.prevalence == 0.5
    assert curve.precision_at_recall(1.0) == pytest.approx(2 / 3)
    assert curve.precision_at_recall(0.5) == pytest.approx(1.0)


def test_perfect_ranking_and_errors():
    assert roc([0, 1, 1], [0.0, 0.5, 0.9]).auc == 1.0
    with pytest.raises(BadInput, match="both labels"):
        roc([1, 1], [0.2, 0.3])
    with pytest.raises(BadInput, match="one score per sample"):
        precision_recall([0, 1], [0.2])


def test_confusion_matrix_and_per_class_recall():
    y_true = [0, 0, 1, 1, 1, 2]
    y_pred = [0, 1, 1, 1, 0, 1]
    np.testing.assert_array_equal(confusion(y_true, y_pred, 4), [[1, 1, 0, 0], [1, 2, 0, 0], [0, 1, 0, 0],
                                                                 [0, 0, 0, 0]])
    np.testing.assert_allclose(per_class_recall(torch.tensor(y_true), torch.tensor(y_pred), 4), [0.5, 2 / 3, 0, 0])


def test_plot_helpers_draw_on_the_given_axes():
    fig, axes = plt.subplots(1, 3)
    plot_roc(axes[0], roc(Y, SCORES), "model")
    plot_pr(axes[1], precision_recall(Y, SCORES), "model")
    plot_confusion(axes[2], confusion([0, 1], [0, 0], 2))
    assert "AUC 0.750" in axes[0].get_legend().get_texts()[0].get_text()
    assert "AP 0.833" in axes[1].get_legend().get_texts()[0].get_text()
    assert len(axes[2].texts) == 4  # one count per cell
    plt.close(fig)
