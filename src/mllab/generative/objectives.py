"""GAN objectives, each written from its formula. The critic D outputs one real number per sample,
d = D(x) (B,): a logit for the GAN (D's probability is σ(d)), a regression value for LSGAN, a score for
WGAN. Every loss is a mean over the batch and is *minimised* by its player.

    GAN (minimax)      L_D = −E_x log σ(D(x)) − E_z log(1 − σ(D(G(z))))   (classifier: real 1, fake 0)
                       L_G = E_z log(1 − σ(D(G(z))))                       (saturating)
      non-saturating   L_G = −E_z log σ(D(G(z)))
      at the optimal D: −L_D = 2·JS(P_data ‖ P_G) − log 4, so JS = log 2 − L_D / 2
    LSGAN              L_D = ½ E_x (D(x) − 1)² + ½ E_z D(G(z))²             (regression: real → 1, fake → 0)
                       L_G = ½ E_z (D(G(z)) − 1)²
    WGAN               L_D = E_z D(G(z)) − E_x D(x),   L_G = −E_z D(G(z)),   then w ← clip(w, −c, c)
      at the optimal 1-Lipschitz D: −L_D = W1(P_data, P_G)
    WGAN-GP            L_D = E_z D(G(z)) − E_x D(x) + λ E_x̂ (‖∇_x̂ D(x̂)‖₂ − 1)²,
                       x̂ = ε x + (1 − ε) G(z), ε ~ U[0, 1] per sample (Gulrajani et al. 2017, Algorithm 1)

`OBJECTIVES` maps a name to its class; `make_objective(name, **options)` validates the options (BadInput).
Each class carries its paper's training defaults (n_critic, optimizer, lr, betas).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from mllab.core.errors import BadInput


@dataclass
class Objective:
    """Base: `critic_loss` (D's loss for a batch, penalty included), `generator_loss`, `after_critic_step`."""

    name: ClassVar[str] = ""
    n_critic: ClassVar[int] = 1  # the paper's critic updates per generator update
    optimizer: ClassVar[str] = "adam"
    lr: ClassVar[float] = 2e-4
    betas: ClassVar[tuple[float, float]] = (0.5, 0.999)

    def critic_loss_from_scores(self, d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def generator_loss(self, d_fake: torch.Tensor) -> torch.Tensor:
        """L_G from the critic's scores on generated samples d_fake (B,)."""
        raise NotImplementedError

    def critic_loss(self, critic: nn.Module, real: torch.Tensor, fake: torch.Tensor,
                    generator: torch.Generator | None = None) -> torch.Tensor:
        """L_D on a batch: real (B, ...) data, fake (B, ...) generated samples (detached by the caller)."""
        return self.critic_loss_from_scores(critic(real), critic(fake))

    def after_critic_step(self, critic: nn.Module) -> None:
        """Called after every optimizer step of the critic (WGAN clips its weights here)."""

    def make_optimizer(self, params, lr: float | None = None) -> torch.optim.Optimizer:
        lr = self.lr if lr is None else lr
        if self.optimizer == "rmsprop":
            return torch.optim.RMSprop(params, lr=lr)
        return torch.optim.Adam(params, lr=lr, betas=self.betas)


@dataclass
class GAN(Objective):
    """The minimax GAN; `non_saturating=True` (default) uses L_G = −E log σ(D(G(z))) (same fixed point,
    strong gradients when D rejects the samples)."""

    non_saturating: bool = True
    name: ClassVar[str] = "gan"

    def critic_loss_from_scores(self, d_real, d_fake):
        # −E log σ(d_real) − E log(1 − σ(d_fake)); log σ(d) = −softplus(−d), log(1 − σ(d)) = −softplus(d)
        return F.softplus(-d_real).mean() + F.softplus(d_fake).mean()

    def generator_loss(self, d_fake):
        if self.non_saturating:
            return F.softplus(-d_fake).mean()  # −E log σ(D(G(z)))
        return -F.softplus(d_fake).mean()  # E log(1 − σ(D(G(z))))

    @staticmethod
    def js_estimate(critic_loss: float) -> float:
        """JS(P_data ‖ P_G) implied by the critic's loss if D were optimal: log 2 − L_D / 2 (nats)."""
        return math.log(2) - critic_loss / 2


@dataclass
class LSGAN(Objective):
    """Least squares: the discriminator regresses real → 1 and fake → 0 (Mao et al. 2017, a = 0, b = c = 1)."""

    name: ClassVar[str] = "lsgan"

    def critic_loss_from_scores(self, d_real, d_fake):
        return 0.5 * (d_real - 1).pow(2).mean() + 0.5 * d_fake.pow(2).mean()  # ½E(D(x)−1)² + ½E D(G(z))²

    def generator_loss(self, d_fake):
        return 0.5 * (d_fake - 1).pow(2).mean()  # ½ E (D(G(z)) − 1)²


@dataclass
class WGAN(Objective):
    """Wasserstein GAN with weight clipping to [−clip, clip] (Arjovsky et al. 2017: c = 0.01, RMSProp 5e-5, n_critic 5)."""

    clip: float = 0.01
    name: ClassVar[str] = "wgan"
    n_critic: ClassVar[int] = 5
    optimizer: ClassVar[str] = "rmsprop"
    lr: ClassVar[float] = 5e-5

    def __post_init__(self) -> None:
        if not self.clip > 0:
            raise BadInput(f"clip: the WGAN weight clip must be > 0, got {self.clip}; e.g. clip=0.01")

    def critic_loss_from_scores(self, d_real, d_fake):
        return d_fake.mean() - d_real.mean()  # E D(G(z)) − E D(x) = −(W1 estimate)

    def generator_loss(self, d_fake):
        return -d_fake.mean()

    @torch.no_grad()
    def after_critic_step(self, critic):
        for p in critic.parameters():
            p.clamp_(-self.clip, self.clip)  # w ← clip(w, −c, c): a crude Lipschitz bound


def gradient_penalty(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """E (‖∇_x̂ D(x̂)‖₂ − 1)² at x̂ = ε x + (1 − ε) x̃; eps (B,) in [0, 1]. Differentiable in D's weights."""
    shape = (-1,) + (1,) * (real.dim() - 1)
    x_hat = (eps.view(shape) * real + (1 - eps.view(shape)) * fake).requires_grad_(True)  # (B, ...)
    (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)  # (B, ...) ∇_x̂ D per sample
    return (grad.flatten(1).norm(dim=1) - 1).pow(2).mean()


@dataclass
class WGANGP(Objective):
    """WGAN with a gradient penalty of weight λ instead of clipping (Gulrajani et al. 2017: λ = 10,
    n_critic = 5, Adam lr 1e-4, β = (0, 0.9))."""

    penalty_weight: float = 10.0
    name: ClassVar[str] = "wgan-gp"
    n_critic: ClassVar[int] = 5
    lr: ClassVar[float] = 1e-4
    betas: ClassVar[tuple[float, float]] = (0.0, 0.9)

    def __post_init__(self) -> None:
        if not self.penalty_weight >= 0:
            raise BadInput(f"penalty_weight: λ must be >= 0, got {self.penalty_weight}; e.g. penalty_weight=10")

    def critic_loss_from_scores(self, d_real, d_fake):
        return d_fake.mean() - d_real.mean()

    def generator_loss(self, d_fake):
        return -d_fake.mean()

    def critic_loss(self, critic, real, fake, generator=None):
        eps = torch.rand(len(real), generator=generator).to(real.device)  # (B,) ε ~ U[0, 1]
        wasserstein = self.critic_loss_from_scores(critic(real), critic(fake))
        return wasserstein + self.penalty_weight * gradient_penalty(critic, real, fake, eps)


OBJECTIVES: dict[str, type[Objective]] = {c.name: c for c in (GAN, LSGAN, WGAN, WGANGP)}


def make_objective(name: str, **options) -> Objective:
    """The objective `name` ('gan', 'lsgan', 'wgan', 'wgan-gp') with its options; BadInput naming the choices."""
    if name not in OBJECTIVES:
        raise BadInput(f"objective: unknown name {name!r}; choose one of {', '.join(OBJECTIVES)}")
    try:
        return OBJECTIVES[name](**options)
    except TypeError:
        raise BadInput(f"objective {name}: unknown option(s) {sorted(options)}") from None
