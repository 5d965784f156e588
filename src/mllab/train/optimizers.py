"""SGD with momentum, Adagrad, RMSProp and Adam written from the notes' formulas, as
`torch.optim.Optimizer`s. Each follows torch.optim's hyperparameter conventions, so that with the
same arguments it takes the same steps as its torch.optim counterpart (tested to 1e-6 over 100 steps).

Notation: θ^t parameters, g^t = ∇L(θ^t) (+ weight decay: g ← g + wd·θ), η learning rate.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

import torch

from mllab.core.errors import BadInput


class _FormulaOptimizer(torch.optim.Optimizer):
    """Shared plumbing: closure, weight decay, per-parameter state with a step counter t."""

    def __init__(self, params: Iterable[Any], defaults: dict[str, Any]):
        for name, value in defaults.items():
            if isinstance(value, float) and value < 0:
                raise BadInput(f"{type(self).__name__}: {name} must be >= 0, got {value}")
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor] | None = None) -> torch.Tensor | None:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad
                if group.get("weight_decay", 0.0):
                    g = g + group["weight_decay"] * p  # g ← g + wd·θ (L2 penalty, as torch.optim)
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    self.init_state(state, p, group)
                state["step"] += 1  # t
                self.update(p, g, state, group)
        return loss

    def init_state(self, state: dict[str, Any], p: torch.Tensor, group: dict[str, Any]) -> None:
        """Allocate the running quantities of one parameter."""

    def update(self, p: torch.Tensor, g: torch.Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        raise NotImplementedError


class SGDMomentum(_FormulaOptimizer):
    """Gradient descent with (heavy-ball) momentum.

    Notes:      m^t = λ m^{t-1} − η g^t,   θ^{t+1} = θ^t + m^t        (m^0 = 0)
    torch form: b^t = λ b^{t-1} + g^t,      θ^{t+1} = θ^t − η b^t       (b^1 = g^1)
    The two are the same sequence with m^t = −η b^t while η is constant; we write the torch form so a
    schedule that changes η matches torch.optim.SGD(momentum=λ, dampening=0, nesterov=False).
    """

    def __init__(self, params: Iterable[Any], lr: float = 0.01, momentum: float = 0.9, weight_decay: float = 0.0):
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay))

    def update(self, p, g, state, group):
        if group["momentum"] == 0:
            p.add_(g, alpha=-group["lr"])  # θ^{t+1} = θ^t − η g^t
            return
        if "buffer" not in state:
            state["buffer"] = g.clone()  # b^1 = g^1
        else:
            state["buffer"].mul_(group["momentum"]).add_(g)  # b^t = λ b^{t-1} + g^t
        p.add_(state["buffer"], alpha=-group["lr"])  # θ^{t+1} = θ^t − η b^t


class Adagrad(_FormulaOptimizer):
    """Adagrad: each parameter's step is divided by the root of its accumulated squared gradients.

    θ^{t+1} = θ^t − η / (√(Σ_{i≤t} (g^i)²) + ε) · g^t         (torch.optim.Adagrad, lr_decay = 0)

    The notes write σ^t = √( 1/(t+1) Σ_{i=0}^{t} (g^i)² ) with a decaying η^t = η/√(t+1); the √(t+1)
    cancels and gives the line above. With a constant η instead (no decay), the notes' form equals this
    optimizer under the learning-rate multiplier √t (see the adaptive-lr experiment).
    """

    def __init__(self, params: Iterable[Any], lr: float = 0.01, eps: float = 1e-10, weight_decay: float = 0.0,
                 initial_accumulator_value: float = 0.0):
        super().__init__(params, dict(lr=lr, eps=eps, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value))

    def init_state(self, state, p, group):
        state["sum"] = torch.full_like(p, group["initial_accumulator_value"])

    def update(self, p, g, state, group):
        state["sum"].addcmul_(g, g)  # Σ (g^i)²
        sigma = state["sum"].sqrt().add_(group["eps"])  # σ^t = √Σ (g^i)² + ε
        p.addcdiv_(g, sigma, value=-group["lr"])  # θ^{t+1} = θ^t − η g^t / σ^t


class RMSProp(_FormulaOptimizer):
    """RMSProp: divide by a moving root-mean-square of recent gradients.

    (σ^t)² = α (σ^{t-1})² + (1 − α)(g^t)²,   θ^{t+1} = θ^t − η / (σ^t + ε) · g^t
    σ^0 = 0 as in torch.optim.RMSprop(centered=False, momentum=0) (the notes start from σ^0 = |g^0|).
    """

    def __init__(self, params: Iterable[Any], lr: float = 0.01, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0):
        if not 0.0 <= alpha < 1.0:
            raise BadInput(f"RMSProp: alpha must lie in [0, 1), got {alpha}")
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay))

    def init_state(self, state, p, group):
        state["square_avg"] = torch.zeros_like(p)

    def update(self, p, g, state, group):
        square = state["square_avg"]
        square.mul_(group["alpha"]).addcmul_(g, g, value=1 - group["alpha"])  # (σ^t)² = α(σ^{t-1})² + (1−α)(g^t)²
        sigma = square.sqrt().add_(group["eps"])  # σ^t + ε
        p.addcdiv_(g, sigma, value=-group["lr"])  # θ^{t+1} = θ^t − η g^t / σ^t


class Adam(_FormulaOptimizer):
    """Adam = RMSProp + momentum, with bias correction (Kingma & Ba, 2015).

    m^t = β₁ m^{t-1} + (1 − β₁) g^t,   v^t = β₂ v^{t-1} + (1 − β₂)(g^t)²
    m̂^t = m^t / (1 − β₁^t),            v̂^t = v^t / (1 − β₂^t)
    θ^{t+1} = θ^t − η m̂^t / (√v̂^t + ε)                    (torch.optim.Adam, amsgrad=False)
    """

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0):
        if not all(0.0 <= b < 1.0 for b in betas):
            raise BadInput(f"Adam: betas must lie in [0, 1), got {betas}")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay))

    def init_state(self, state, p, group):
        state["m"] = torch.zeros_like(p)
        state["v"] = torch.zeros_like(p)

    def update(self, p, g, state, group):
        beta1, beta2 = group["betas"]
        t = state["step"]
        state["m"].mul_(beta1).add_(g, alpha=1 - beta1)  # m^t = β₁ m^{t-1} + (1−β₁) g^t
        state["v"].mul_(beta2).addcmul_(g, g, value=1 - beta2)  # v^t = β₂ v^{t-1} + (1−β₂)(g^t)²
        m_hat = state["m"] / (1 - beta1 ** t)  # m̂^t
        v_hat = state["v"] / (1 - beta2 ** t)  # v̂^t
        p.addcdiv_(m_hat, v_hat.sqrt().add_(group["eps"]), value=-group["lr"])  # θ^{t+1} = θ^t − η m̂/(√v̂ + ε)


OPTIMIZERS = {"sgd-momentum": SGDMomentum, "adagrad": Adagrad, "rmsprop": RMSProp, "adam": Adam}
