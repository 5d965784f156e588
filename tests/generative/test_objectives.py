"""Each objective's loss equals its formula on hand-made numbers; the gradient penalty equals a hand-computed one."""

import math

import pytest
import torch
from torch import nn

from mllab.core.errors import BadInput
from mllab.generative.objectives import GAN, LSGAN, WGAN, WGANGP, gradient_penalty, make_objective

D_REAL = torch.tensor([2.0, -1.0])  # critic outputs on two real samples
D_FAKE = torch.tensor([0.5, -3.0])  # and on two generated ones


def sigmoid(x):
    return 1 / (1 + math.exp(-x))


def test_gan_losses_are_the_cross_entropy_of_real_1_fake_0():
    expected_d = (-(math.log(sigmoid(2.0)) + math.log(sigmoid(-1.0))) / 2
                  - (math.log(1 - sigmoid(0.5)) + math.log(1 - sigmoid(-3.0))) / 2)
    assert GAN().critic_loss_from_scores(D_REAL, D_FAKE).item() == pytest.approx(expected_d, rel=1e-6)
    non_saturating = -(math.log(sigmoid(0.5)) + math.log(sigmoid(-3.0))) / 2
    saturating = (math.log(1 - sigmoid(0.5)) + math.log(1 - sigmoid(-3.0))) / 2
    assert GAN().generator_loss(D_FAKE).item() == pytest.approx(non_saturating, rel=1e-6)
    assert GAN(non_saturating=False).generator_loss(D_FAKE).item() == pytest.approx(saturating, rel=1e-6)


def test_gan_js_estimate_at_the_two_extremes():
    assert GAN.js_estimate(2 * math.log(2)) == pytest.approx(0.0)  # D = ½ everywhere: P_G = P_data
    assert GAN.js_estimate(0.0) == pytest.approx(math.log(2))  # a perfect D: disjoint supports


def test_lsgan_losses_regress_real_to_1_and_fake_to_0():
    expected_d = 0.5 * ((2 - 1) ** 2 + (-1 - 1) ** 2) / 2 + 0.5 * (0.5 ** 2 + 3.0 ** 2) / 2
    assert LSGAN().critic_loss_from_scores(D_REAL, D_FAKE).item() == pytest.approx(expected_d)
    assert LSGAN().generator_loss(D_FAKE).item() == pytest.approx(0.5 * ((0.5 - 1) ** 2 + (-3 - 1) ** 2) / 2)


@pytest.mark.parametrize("cls", [WGAN, WGANGP])
def test_wasserstein_losses(cls):
    assert cls().critic_loss_from_scores(D_REAL, D_FAKE).item() == pytest.approx((0.5 - 3) / 2 - (2 - 1) / 2)
    assert cls().generator_loss(D_FAKE).item() == pytest.approx(-(0.5 - 3) / 2)


def test_wgan_clips_every_weight():
    critic = nn.Linear(3, 1)
    with torch.no_grad():
        critic.weight.copy_(torch.tensor([[0.5, -0.005, -2.0]]))
        critic.bias.fill_(0.02)
    WGAN(clip=0.01).after_critic_step(critic)
    assert torch.equal(critic.weight, torch.tensor([[0.01, -0.005, -0.01]]))
    assert critic.bias.item() == pytest.approx(0.01)


def test_gradient_penalty_equals_hand_computed():
    # D(x) = w·x² summed: ∇D(x̂) = 2 w ⊙ x̂, so the penalty is known in closed form
    class Square(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.tensor([1.0, 2.0]))

        def forward(self, x):
            return (self.w * x ** 2).sum(1)

    real = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    fake = torch.tensor([[3.0, 0.0], [0.0, 3.0]])
    eps = torch.tensor([0.5, 0.25])
    # x̂_1 = (2, 0): ∇ = (4, 0), ‖·‖ = 4;  x̂_2 = (0, 0.25 + 2.25 = 2.5): ∇ = (0, 10), ‖·‖ = 10
    expected = ((4 - 1) ** 2 + (10 - 1) ** 2) / 2
    penalty = gradient_penalty(Square(), real, fake, eps)
    assert penalty.item() == pytest.approx(expected)
    critic = Square()
    gradient_penalty(critic, real, fake, eps).backward()
    # d/dw1: only sample 1 (‖g‖ = 2 w1 x̂²... ) : ‖g_1‖ = 2 w1 · 2 = 4 w1, d/dw1 (4w1 − 1)²/2 = 4(4w1 − 1) = 12
    assert critic.w.grad[0].item() == pytest.approx(12.0)
    total = WGANGP(penalty_weight=10.0)
    generator = torch.Generator().manual_seed(3)
    eps_drawn = torch.rand(2, generator=torch.Generator().manual_seed(3))
    loss = total.critic_loss(Square(), real, fake, generator)
    with torch.no_grad():
        d = Square()
        wasserstein = d(fake).mean() - d(real).mean()
    assert loss.item() == pytest.approx(wasserstein.item() + 10 * gradient_penalty(Square(), real, fake, eps_drawn).item())


@pytest.mark.parametrize("name, options, fragment", [
    ("dcgan", {}, "unknown name 'dcgan'"),
    ("wgan-gp", {"penalty_weight": -1.0}, "penalty_weight"),
    ("wgan", {"clip": 0.0}, "clip"),
    ("gan", {"lam": 1}, "unknown option"),
])
def test_bad_objectives_raise_one_line(name, options, fragment):
    with pytest.raises(BadInput, match=fragment) as info:
        make_objective(name, **options)
    assert "\n" not in str(info.value)
