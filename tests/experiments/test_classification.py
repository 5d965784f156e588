"""Components of the classification experiments (the smoke test runs the experiments themselves)."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mllab.experiments.classification import (TwoLogitClassifier, binary_task, loss_surface, softmax_loss,
                                              steps_to_target, two_logit_task)


def test_softmax_losses_match_their_formulas():
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.5, 0.5, 0.5]])
    y = torch.tensor([0, 2])
    torch.testing.assert_close(softmax_loss(logits, y, "ce"), F.cross_entropy(logits, y, reduction="none"))
    p = logits.softmax(dim=1)
    expected = torch.stack([(p[0, 0] - 1) ** 2 + p[0, 1] ** 2 + p[0, 2] ** 2, torch.tensor(2 * (1 / 3) ** 2 + (1 / 3 - 1) ** 2)])
    torch.testing.assert_close(softmax_loss(logits, y, "mse"), expected)


def test_mse_gradient_vanishes_when_confidently_wrong_but_ce_does_not():
    logits = torch.tensor([[-10.0, 0.0]], requires_grad=True)  # class 0 is the answer, p_0 ≈ 4.5e-5
    y = torch.tensor([0])
    (grad_ce,) = torch.autograd.grad(softmax_loss(logits, y, "ce").sum(), logits)
    (grad_mse,) = torch.autograd.grad(softmax_loss(logits, y, "mse").sum(), logits)
    assert grad_ce.norm() > 1.0  # ∂CE/∂z = p - ŷ ≈ (-1, 1)
    assert grad_mse.norm() < 1e-3  # every term carries p_0 (1 - p_0)


def test_loss_surface_equals_the_model_loss_at_each_grid_point():
    x, y = two_logit_task(20, torch.Generator().manual_seed(0))
    w1, w2 = torch.meshgrid(torch.tensor([-3.0, 1.0]), torch.tensor([0.5, 2.0]), indexing="ij")
    for kind in ("ce", "mse"):
        surface = loss_surface(x, y, w1, w2, kind)
        for i in range(2):
            for j in range(2):
                model = TwoLogitClassifier((float(w1[i, j]), float(w2[i, j])))
                torch.testing.assert_close(surface[i, j], softmax_loss(model(x), y, kind).mean())


def test_binary_task_has_the_requested_imbalance_and_a_balanced_variant():
    rng = np.random.default_rng(0)
    x, y = rng.random((2000, 4)), rng.integers(0, 10, 2000)
    imbalanced = binary_task(x, y, 3, 20, seed=0, device="cpu")
    labels = torch.cat([imbalanced.train.y, imbalanced.val.y, imbalanced.test.y])
    negatives, positives = int((labels == 0).sum()), int((labels == 1).sum())
    assert negatives == int((y != 3).sum()) and positives == negatives // 20
    balanced = binary_task(x, y, 3, 20, seed=0, device="cpu", balanced=True)
    labels = torch.cat([balanced.train.y, balanced.val.y, balanced.test.y])
    assert int((labels == 0).sum()) == int((labels == 1).sum()) == positives


@pytest.mark.parametrize("target,expected", [(0.5, 20), (0.9, 30), (0.95, None)])
def test_steps_to_target(target, expected):
    history = [{"step": 10, "val_acc": 0.3}, {"step": 20, "val_acc": 0.6}, {"step": 30, "val_acc": 0.9}]
    assert steps_to_target(history, "val_acc", target) == expected
