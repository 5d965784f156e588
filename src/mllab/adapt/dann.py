"""DANN (Ganin & Lempitsky, ICML 2015; Ganin et al., JMLR 2016): a feature extractor G_f, a label predictor
G_y and a domain classifier G_d behind a gradient reversal layer, trained in one backward pass:

    E(θ_f, θ_y, θ_d) = Σ_source L_y(G_y(G_f(x)), y) − λ Σ_source∪target L_d(G_d(G_f(x)), d)

G_d minimises L_d (it learns to tell the domains apart); through the reversal G_f maximises it (the features
stop carrying the domain). Schedules, with p ∈ [0, 1] the fraction of training done:
    λ_p = 2 / (1 + exp(−γ p)) − 1,  γ = 10                 (adaptation weight, from 0 towards 1)
    μ_p = μ_0 / (1 + α p)^β,        α = 10, β = 0.75       (learning rate)
Training goes through `mllab.train.fit`: `PairedLoader` yields (x_source, y_source, x_target) batches,
`DannLoss` returns (Σ label loss + B · mean domain loss, B), `DannSchedule` moves λ_p after each step.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from mllab.core.errors import BadInput
from mllab.core.seeding import derive_seed
from mllab.data import Split
from mllab.layers.grad_reverse import GradReverse


def adaptation_lambda(p: float, gamma: float = 10.0) -> float:
    """λ_p = 2 / (1 + exp(−γ p)) − 1 for training progress p ∈ [0, 1]."""
    if not 0.0 <= p <= 1.0:
        raise BadInput(f"training progress p: must be in [0, 1], got {p}")
    return 2.0 / (1.0 + math.exp(-gamma * p)) - 1.0


def annealed_lr(p: float, mu0: float = 0.01, alpha: float = 10.0, beta: float = 0.75) -> float:
    """μ_p = μ_0 / (1 + α p)^β for training progress p ∈ [0, 1]."""
    if not 0.0 <= p <= 1.0:
        raise BadInput(f"training progress p: must be in [0, 1], got {p}")
    return mu0 / (1.0 + alpha * p) ** beta


class FeatureExtractor(nn.Module):
    """G_f: x (B, 3, 28, 28) in [0, 1] -> features (B, width). Two stride-2 conv blocks (batch norm optional:
    under DANN a batch holds both domains, so its statistics are shared) and a linear layer."""

    def __init__(self, channels: tuple[int, int] = (16, 32), width: int = 128, batch_norm: bool = False):
        super().__init__()
        c1, c2 = channels
        norm = (lambda c: nn.BatchNorm2d(c)) if batch_norm else (lambda c: nn.Identity())
        self.conv = nn.Sequential(
            nn.Conv2d(3, c1, 5, stride=2, padding=2), norm(c1), nn.ReLU(),   # (B, c1, 14, 14)
            nn.Conv2d(c1, c2, 3, stride=2, padding=1), norm(c2), nn.ReLU(),  # (B, c2, 7, 7)
        )
        self.linear = nn.Linear(c2 * 7 * 7, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv(x - 0.5)  # centred pixels
        return F.relu(self.linear(h.flatten(1)))  # (B, width)


class DomainClassifier(nn.Module):
    """G_d: features (B, width) -> one domain logit (B,) (positive: target)."""

    def __init__(self, width: int = 128, hidden: int = 64):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(width, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        return self.net(f).squeeze(1)


class DANN(nn.Module):
    """G_f, G_y (a linear read-out of 10 classes after one hidden layer) and G_d behind `grl`.

    forward(x) -> class logits (B, 10); `domain_logits(f)` goes through the reversal layer."""

    def __init__(self, channels: tuple[int, int] = (16, 32), width: int = 128, n_classes: int = 10,
                 batch_norm: bool = False):
        super().__init__()
        self.features = FeatureExtractor(channels, width, batch_norm)
        self.label_predictor = nn.Sequential(nn.Linear(width, 64), nn.ReLU(), nn.Linear(64, n_classes))
        self.grl = GradReverse(0.0)  # λ_0 = 0; DannSchedule raises it
        self.domain_classifier = DomainClassifier(width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.label_predictor(self.features(x))

    def domain_logits(self, f: torch.Tensor) -> torch.Tensor:
        return self.domain_classifier(self.grl(f))  # (B,)


class DannLoss:
    """The loss callable for `fit`: batch (x_s (B,3,28,28), y_s (B,), x_t (B',3,28,28)) ->
    (Σ_s CE + B · mean_{s∪t} BCE(domain), B): after fit divides by B, label loss + domain loss.

    adapt=False drops the domain term (source only, or train-on-target when the source *is* the target)."""

    def __init__(self, adapt: bool = True):
        self.adapt = adapt

    def __call__(self, model: DANN, batch: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, int]:
        xs, ys, xt = batch
        b = len(xs)
        if not self.adapt:
            return F.cross_entropy(model(xs), ys, reduction="sum"), b
        f = model.features(torch.cat([xs, xt]))  # (B + B', width): one pass for both domains
        label_loss = F.cross_entropy(model.label_predictor(f[:b]), ys, reduction="sum")
        domain = torch.cat([torch.zeros(b), torch.ones(len(xt))]).to(f)  # d = 0 source, 1 target
        domain_loss = F.binary_cross_entropy_with_logits(model.domain_logits(f), domain)  # mean over B + B'
        return label_loss + b * domain_loss, b


class DannSchedule:
    """A `fit` callback: after each optimizer step set the reversal's λ to `weight` · λ_p, p = step / total."""

    def __init__(self, total_steps: int, weight: float = 1.0, gamma: float = 10.0):
        if weight < 0:
            raise BadInput(f"adaptation weight: must be >= 0 (0: source only), got {weight}")
        self.total, self.weight, self.gamma = max(total_steps, 1), weight, gamma

    def on_step_end(self, state, model: DANN) -> None:
        p = min(state.global_step / self.total, 1.0)
        model.grl.set_lambda(self.weight * adaptation_lambda(p, self.gamma))


def lr_lambda(total_steps: int, alpha: float = 10.0, beta: float = 0.75):
    """For torch's LambdaLR: the factor μ_p / μ_0 = 1 / (1 + α p)^β at optimizer step s, p = s / total."""
    return lambda step: 1.0 / (1.0 + alpha * min(step / max(total_steps, 1), 1.0)) ** beta


class PairedLoader:
    """Batches (x_source, y_source, x_target): the source in a shuffled order and the target in its own shuffled
    order (cycled when shorter), both drawn from derive_seed(seed, "batch order", epoch). One epoch is one pass
    over the source."""

    def __init__(self, source: Split, target_x: torch.Tensor, batch_size: int, seed: int = 0):
        if batch_size < 1:
            raise BadInput(f"batch_size: must be >= 1, got {batch_size}")
        if len(source) == 0 or len(target_x) == 0:
            raise BadInput("PairedLoader: source and target need at least one image each")
        self.source, self.target_x, self.batch_size, self.seed, self.epoch = source, target_x, batch_size, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return math.ceil(len(self.source) / self.batch_size)

    def batches(self, start: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        g = torch.Generator().manual_seed(derive_seed(self.seed, "batch order", self.epoch))
        s_order = torch.randperm(len(self.source), generator=g)
        t_order = torch.randperm(len(self.target_x), generator=g)
        for k in range(start, len(self)):
            idx = s_order[k * self.batch_size:(k + 1) * self.batch_size]
            t_idx = t_order[torch.arange(k * self.batch_size, k * self.batch_size + len(idx)) % len(t_order)]
            yield self.source.x[idx], self.source.y[idx], self.target_x[t_idx]

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        return self.batches()


@torch.no_grad()
def target_accuracy(model: nn.Module, split: Split, batch: int = 1000) -> float:
    """Top-1 accuracy of `model` on `split` (eval mode, in chunks)."""
    model.eval()
    correct = sum(int((model(split.x[i:i + batch]).argmax(1) == split.y[i:i + batch]).sum())
                  for i in range(0, len(split), batch))
    return correct / len(split)


@torch.no_grad()
def features(model: DANN, x: torch.Tensor, batch: int = 1000) -> torch.Tensor:
    """G_f(x): (N, 3, 28, 28) -> (N, width)."""
    model.eval()
    return torch.cat([model.features(x[i:i + batch]) for i in range(0, len(x), batch)])


@torch.no_grad()
def domain_accuracy(model: DANN, source_x: torch.Tensor, target_x: torch.Tensor) -> float:
    """Accuracy of the model's own domain classifier G_d on source (d = 0) and target (d = 1) images, each
    set weighted equally (0.5 = chance)."""
    src = (model.domain_classifier(features(model, source_x)) < 0).float().mean()
    tgt = (model.domain_classifier(features(model, target_x)) > 0).float().mean()
    return float(src + tgt) / 2
