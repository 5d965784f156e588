import pytest
import torch
import torch.nn.functional as F

from mllab.continual import (
    EWC,
    SI,
    ReplayMemory,
    Scenario,
    fisher_diagonal,
    make_strategy,
)
from mllab.continual.strategies import ReplayLoader
from mllab.core.errors import BadInput
from mllab.data import TensorLoader
from mllab.train import fit


def test_ewc_fisher_of_logistic_regression_matches_the_closed_form():
    # p = σ(w·x + b) as a 2-class softmax with logits (0, w·x + b): F_w = E_x[p(1 − p) x²], F_b = E_x[p(1 − p)]
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 1)
    x = torch.randn(64, 4)

    def log_probs(out):  # (N, 1) -> (N, 2)
        return F.log_softmax(torch.cat([torch.zeros_like(out), out], 1), 1)

    fisher = fisher_diagonal(model, x, log_probs)
    with torch.no_grad():
        p = torch.sigmoid(model(x)).squeeze(1)  # (N,)
    v = p * (1 - p)
    assert torch.allclose(fisher["weight"][0], (v[:, None] * x ** 2).mean(0), rtol=1e-5, atol=1e-7)
    assert torch.allclose(fisher["bias"], v.mean()[None], rtol=1e-5)


def test_ewc_penalty_is_half_lambda_fisher_weighted_distance():
    scenario = Scenario("domain", (2, 2))
    ewc = EWC(scenario, strength=10.0)
    model = torch.nn.Linear(3, 2)
    star = {n: p.detach().clone() for n, p in model.named_parameters()}
    fisher = {n: torch.full_like(p, 0.5) for n, p in star.items()}
    ewc.anchors.append((fisher, star))
    with torch.no_grad():
        model.weight.add_(1.0)
    assert float(ewc.penalty(model).detach()) == pytest.approx(0.5 * 10.0 * 0.5 * 6)  # 6 weights moved by 1


def test_si_importance_on_a_quadratic():
    # L(θ) = ½ Σ h_i (θ_i − a_i)², plain gradient descent: ω_i = Σ_t lr g_t² exactly, and after convergence
    # Ω_i = ω_i / (Δ_i² + ξ) → (½ h_i Δ_i²) / Δ_i² = h_i / 2 as lr → 0 and ξ → 0
    h, a = torch.tensor([0.5, 2.0, 8.0]), torch.tensor([1.0, -2.0, 3.0])
    model = torch.nn.Module()
    model.theta = torch.nn.Parameter(torch.zeros(3))
    si = SI(Scenario("domain", (1,)), strength=1.0, xi=1e-8)
    si.begin(model)
    lr, steps = 0.01, 3000

    def loss(m, batch):
        return 0.5 * (h * (m.theta - a) ** 2).sum(), 1

    fit(model, loss, TensorLoader([torch.zeros(1)], 1, shuffle=False), torch.optim.SGD(model.parameters(), lr=lr),
        epochs=steps, callbacks=si.callbacks())
    e = -a.clone()  # e_t = θ_t − a, e_{t+1} = (1 − lr h) e_t
    expected = torch.zeros(3)
    for _ in range(steps):
        expected += lr * (h * e) ** 2
        e = (1 - lr * h) * e
    assert torch.allclose(si.omega["theta"], expected, rtol=1e-4)
    si.after_task(model, None, seen=1)
    assert torch.allclose(si.importance["theta"], h / 2, rtol=0.05)  # Ω ≈ h / 2: the curvature, halved
    assert float(si.penalty(model).detach()) == pytest.approx(0.0, abs=1e-6)  # at the anchor


def _task(t, n=30):
    x = torch.randn(n, 5)
    y = torch.arange(n) % 2
    return x, y + 2 * t, torch.full((n,), t)


def test_replay_memory_stays_within_size_and_balanced():
    memory = ReplayMemory(size=7, seed=0)
    for t in range(3):
        data = _task(t)
        memory.add(data, data[1])
        counts = list(memory.counts().values())
        assert len(memory) <= 7 and max(counts) - min(counts) <= 1 and len(counts) == 2 * (t + 1)
        assert len(memory) == min(7, 30 * (t + 1))
    assert ReplayMemory(0).tensors() is None


def test_replay_loader_adds_stored_examples_to_each_batch():
    memory = ReplayMemory(size=10, seed=0)
    old = _task(0)
    memory.add(old, old[1])
    batches = list(ReplayLoader(_task(1), memory.tensors(), batch_size=8, seed=0))
    assert [len(b[0]) for b in batches] == [16, 16, 16, 6 + 6]
    assert all((b[2] == 0).sum() == len(b[0]) // 2 for b in batches)  # half of each batch is replayed


def test_zero_strength_and_empty_memory_are_naive():
    sc = Scenario("class", (2, 2))
    model = torch.nn.Linear(5, 4)
    for s in (EWC(sc, 0.0), SI(sc, 0.0)):
        assert s.penalty(model) == 0.0


@pytest.mark.parametrize("make, match", [
    (lambda: ReplayMemory(-1), "memory size: must be >= 0"),
    (lambda: EWC(Scenario("task", (2,)), -1.0), "ewc strength"),
    (lambda: SI(Scenario("task", (2,)), -1.0), "si strength"),
    (lambda: make_strategy("dream", Scenario("task", (2,))), "unknown strategy"),
])
def test_bad_input_one_line(make, match):
    with pytest.raises(BadInput, match=match) as exc:
        make()
    assert "\n" not in str(exc.value)
