import numpy as np
import pytest

from mllab.continual import average_accuracy, backward_transfer, forgetting
from mllab.core.errors import BadInput

# R[i, j]: accuracy on task j after task i (hand-made, 3 tasks)
R = np.array([[0.90, 0.10, 0.05],
              [0.60, 0.80, 0.10],
              [0.50, 0.70, 0.95]])


def test_metrics_on_a_hand_made_matrix():
    assert average_accuracy(R) == pytest.approx((0.50 + 0.70 + 0.95) / 3)
    # forgetting: task 0 best 0.90 → 0.50 (0.40); task 1 best 0.80 → 0.70 (0.10)
    assert forgetting(R) == pytest.approx((0.40 + 0.10) / 2)
    assert backward_transfer(R) == pytest.approx(((0.50 - 0.90) + (0.70 - 0.80)) / 2)


def test_forgetting_uses_the_best_earlier_accuracy_not_the_first():
    M = np.array([[0.5, 0.0], [0.9, 0.9]])  # task 0 improved after task 1: negative forgetting, positive transfer
    assert forgetting(M) == pytest.approx(-0.4) and backward_transfer(M) == pytest.approx(0.4)
    M3 = np.array([[0.5, 0, 0], [0.9, 0.8, 0], [0.6, 0.8, 0.7]])
    assert forgetting(M3) == pytest.approx((0.3 + 0.0) / 2)


def test_one_task_forgets_nothing_and_bad_shapes_are_bad_input():
    assert forgetting([[0.7]]) == 0.0 and backward_transfer([[0.7]]) == 0.0 and average_accuracy([[0.7]]) == 0.7
    with pytest.raises(BadInput, match="square"):
        forgetting(np.zeros((2, 3)))
