"""grad-accumulation: k accumulated micro-batches = one k-times larger batch, at lower peak memory.

`fit` counts the items N_group of a whole accumulation group first and backpropagates each
micro-batch's loss_sum / N_group, so

    ∇ = (1 / N_group) Σ_{micro-batches j} Σ_{i in j} ∇ℓ_i          (exact: the big batch's mean)

whereas the common recipe `loss = mean_loss_j / k` gives

    ∇_naive = (1 / k) Σ_j (1 / n_j) Σ_{i in j} ∇ℓ_i                (equal only when every n_j = N_group / k)

The experiment measures both against the big batch, the weights after an epoch, the peak memory of
two fresh processes (k=1 vs k=8), the BatchNorm caveat (batch statistics depend on the micro-batch)
and a 2-rank gloo DDP run against one process with the combined batch.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import torch
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from torch.nn.utils import parameters_to_vector, vector_to_parameters

from mllab.core.config import Config
from mllab.core.devices import torch_threads
from mllab.core.errors import BadInput
from mllab.core.registry import experiment
from mllab.core.run import Run
from mllab.data import TensorLoader, load_dataset
from mllab.experiments.training.memory_probe import (
    collect_memory_probes,
    start_memory_probes,
)
from mllab.models.mlp import MLP
from mllab.train import fit
from mllab.train.distributed import launch
from mllab.train.losses import cross_entropy_sum

CASES = ("equal", "unequal", "short final group")
GRADIENT_TOLERANCE = 1e-6  # max relative gradient difference that counts as "the same gradient" (float64)
WEIGHT_TOLERANCE = 1e-5  # max |Δw| after an epoch that counts as "the same weights"
BATCHNORM_GAP = 1e-4  # a relative gradient difference above this: BatchNorm breaks the equality


@dataclass
class AccumulationConfig(Config):
    micro_batch: int = 16
    """micro-batch size b (items) of the equal-batch and short-final-group cases"""
    accum_steps: int = 4
    """k: micro-batches accumulated per optimizer step"""
    unequal_sizes: tuple[int, ...] = (5, 23, 11, 25)
    """micro-batch sizes of the unequal case, cycled"""
    groups: int = 16
    """full accumulation groups (optimizer steps) per epoch in each case"""
    short_tail: int = 23
    """items in the short final group of the third case (fewer than accum_steps * micro_batch)"""
    width: int = 64
    """hidden units of the digits MLP"""
    depth: int = 2
    """hidden layers of the digits MLP"""
    lr: float = 0.1
    """SGD learning rate"""
    momentum: float = 0.9
    """SGD momentum"""
    dtype: Literal["float64", "float32"] = "float64"
    """dtype of the equality checks (tolerances 1e-6 relative gradient, 1e-5 weights)"""
    memory_batch: int = 16384
    """batch of the peak-memory probe (random 64-feature inputs)"""
    memory_accum_steps: int = 8
    """k of the peak-memory probe, compared with k=1"""
    memory_width: int = 256
    """hidden units of the memory-probe MLP"""
    memory_depth: int = 4
    """hidden layers of the memory-probe MLP"""
    ddp_micro_batch: int = 8
    """micro-batch b of each DDP rank (2 ranks x k=2 x b against one process with batch 4b)"""
    ddp_steps: int = 8
    """optimizer steps of the DDP comparison"""

    profiles: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": {"groups": 2, "memory_batch": 8192, "ddp_steps": 2},
        "full": {"groups": 19, "memory_batch": 65536, "memory_width": 512, "ddp_steps": 32},
    }

    def validate(self) -> None:
        super().validate()
        for name in ("micro_batch", "groups", "short_tail", "width", "depth", "memory_batch",
                     "memory_accum_steps", "memory_width", "memory_depth", "ddp_micro_batch", "ddp_steps"):
            if getattr(self, name) < 1:
                raise BadInput(f"--set {name}: must be an integer >= 1, got {getattr(self, name)}")
        if not self.unequal_sizes or min(self.unequal_sizes) < 1:
            raise BadInput(f"--set unequal_sizes: give positive sizes, e.g. 5,23,11,25; got {self.unequal_sizes}")
        if self.short_tail >= self.accum_steps * self.micro_batch:
            raise BadInput(f"--set short_tail: must be below accum_steps * micro_batch = "
                           f"{self.accum_steps * self.micro_batch} to make the final group short")
        if self.memory_batch % self.memory_accum_steps:
            raise BadInput(f"--set memory_batch: must be a multiple of memory_accum_steps={self.memory_accum_steps}")
        if not 0 <= self.momentum < 1:
            raise BadInput(f"--set momentum: must lie in [0, 1), got {self.momentum}")

    def samples_needed(self) -> dict[str, int]:
        """Items per epoch of each case."""
        k, steps = self.accum_steps, self.groups
        unequal = sum(self.unequal_sizes[i % len(self.unequal_sizes)] for i in range(steps * k))
        return {"equal": steps * k * self.micro_batch, "unequal": unequal,
                "short final group": steps * k * self.micro_batch + self.short_tail,
                "ddp": 4 * self.ddp_micro_batch * self.ddp_steps}




def make_model(seed: int, width: int, depth: int, dtype: torch.dtype, norm: str | None = None) -> MLP:
    torch.manual_seed(seed)
    return MLP(64, 10, width=width, depth=depth, norm=norm).to(dtype)


class RecordingSGD(torch.optim.SGD):
    """SGD that keeps, at every step, the weights it starts from and the gradient it applies (flat)."""

    def __init__(self, params: Any, **kw: Any):
        super().__init__(params, **kw)
        self.weights: list[torch.Tensor] = []
        self.gradients: list[torch.Tensor] = []

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        params = [p for group in self.param_groups for p in group["params"]]
        self.weights.append(parameters_to_vector(params).clone())
        self.gradients.append(parameters_to_vector([p.grad for p in params]).clone())
        return super().step(closure)


@dataclass
class Trace:
    weights: list[torch.Tensor]  # per step, (P,) weights before the step
    gradients: list[torch.Tensor]  # per step, (P,) the gradient the step applied
    final: torch.Tensor  # (P,) weights after the epoch


def train_one_epoch(model: torch.nn.Module, loader: Any, accum_steps: int, cfg: AccumulationConfig) -> Trace:
    optimizer = RecordingSGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum)
    fit(model, cross_entropy_sum, loader, optimizer, epochs=1, accum_steps=accum_steps)
    return Trace(optimizer.weights, optimizer.gradients, parameters_to_vector(model.parameters()).detach())


def relative_difference(gradient: torch.Tensor, reference: torch.Tensor) -> float:
    """max_i |g_i - r_i| / max_i |r_i| over the whole flattened gradient."""
    return ((gradient - reference).abs().max() / reference.abs().max()).item()


def naive_gradient(model: torch.nn.Module, weights: torch.Tensor, group: list[Any], accum_steps: int) -> torch.Tensor:
    """The `loss /= accum_iter` recipe, written by hand because fit (by design) cannot express it."""
    vector_to_parameters(weights, model.parameters())
    model.zero_grad(set_to_none=True)
    for x, y in group:
        loss = F.cross_entropy(model(x), y) / accum_steps  # mean over the micro-batch, then / k
        loss.backward()
    return parameters_to_vector([p.grad for p in model.parameters()])


@dataclass
class CaseResult:
    exact: list[float]  # per step: relative gradient difference, fit with k micro-batches vs one big batch
    naive: list[float] = field(default_factory=list)  # per step: the naive recipe vs the big batch
    weight_difference: float = 0.0  # max |w_accumulated - w_big| after the epoch


def compare(x: torch.Tensor, y: torch.Tensor, cfg: AccumulationConfig, seed: int, *, batch_size: int = 1,
            batch_sizes: tuple[int, ...] | None = None, norm: str | None = None) -> CaseResult:
    """One epoch with k micro-batches and one with the groups' concatenations as single batches."""
    k, dtype = cfg.accum_steps, x.dtype
    loader = TensorLoader((x, y), batch_size, batch_sizes=batch_sizes, seed=seed)
    micro = list(loader)
    groups = [micro[i:i + k] for i in range(0, len(micro), k)]
    # the same shuffled order (it depends only on seed and epoch) cut at the group boundaries
    big_loader = TensorLoader((x, y), 1, batch_sizes=[sum(len(b[1]) for b in g) for g in groups], seed=seed)
    model = make_model(seed, cfg.width, cfg.depth, dtype, norm).to(x.device)
    accumulated = train_one_epoch(model, loader, k, cfg)
    big = train_one_epoch(make_model(seed, cfg.width, cfg.depth, dtype, norm).to(x.device), big_loader, 1, cfg)
    result = CaseResult(exact=[relative_difference(a, b) for a, b in zip(accumulated.gradients, big.gradients)],
                        weight_difference=(accumulated.final - big.final).abs().max().item())
    if norm is None:
        result.naive = [relative_difference(naive_gradient(model, w, group, k), g)
                        for w, group, g in zip(big.weights, groups, big.gradients)]
    return result


def ddp_worker(rank: int, world_size: int, x: torch.Tensor, y: torch.Tensor, cfg: AccumulationConfig,
               seed: int) -> torch.Tensor:
    """One DDP rank: its shard in micro-batches of b, k=2; returns the flat weights after the epoch."""
    model = DistributedDataParallel(make_model(seed, cfg.width, cfg.depth, x.dtype))
    loader = TensorLoader((x, y), cfg.ddp_micro_batch, seed=seed, rank=rank, world_size=world_size)
    optimizer = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum)
    fit(model, cross_entropy_sum, loader, optimizer, epochs=1, accum_steps=2)
    return parameters_to_vector(model.module.parameters()).detach()


def ddp_difference(x: torch.Tensor, y: torch.Tensor, cfg: AccumulationConfig, seed: int) -> tuple[float, float]:
    """(max |w_rank0 - w_single|, max |w_rank0 - w_rank1|): 2 ranks x k=2 x b against one process, batch 4b."""
    ranks = launch(ddp_worker, 2, x, y, cfg, seed)
    # rank r takes order[r::2]; its group g is order_r[2bg : 2b(g+1)], so the two ranks' groups = order[4bg : 4b(g+1)]
    single = make_model(seed, cfg.width, cfg.depth, x.dtype)
    optimizer = torch.optim.SGD(single.parameters(), lr=cfg.lr, momentum=cfg.momentum)
    fit(single, cross_entropy_sum, TensorLoader((x, y), 4 * cfg.ddp_micro_batch, seed=seed), optimizer, epochs=1)
    reference = parameters_to_vector(single.parameters()).detach()
    return (ranks[0] - reference).abs().max().item(), (ranks[0] - ranks[1]).abs().max().item()


@experiment("grad-accumulation", section="training",
            claim="Accumulating k micro-batches gives the gradient and the weights of one k-times larger batch, "
                  "and lowers peak memory.")
def grad_accumulation(run: Run, cfg: AccumulationConfig) -> None:
    """fit with k micro-batches vs one big batch (digits MLP), the naive recipe, peak RSS, BatchNorm, DDP."""
    with torch_threads(1):  # batches of 5..64 rows: a second thread only adds synchronisation
        measure(run, cfg)


def measure(run: Run, cfg: AccumulationConfig) -> None:
    """The experiment's body: gradient cases, BatchNorm, DDP and memory, then checks and figures."""
    dtype = getattr(torch, cfg.dtype)
    device = torch.device("cpu") if run.device.type == "mps" else run.device  # MPS has no float64
    data = load_dataset("digits", seed=run.seed)
    x_all, y_all = data.train.x.to(dtype), data.train.y  # (1257, 64), (1257,)
    needed = cfg.samples_needed()
    if max(needed.values()) > len(y_all):
        raise BadInput(f"--set groups: the cases need {max(needed.values())} samples but digits has {len(y_all)} "
                       "training samples; lower groups, micro_batch, unequal_sizes or ddp_steps")

    def rows(case: str, on: torch.device = device) -> tuple[torch.Tensor, torch.Tensor]:
        return x_all[:needed[case]].to(on), y_all[:needed[case]].to(on)

    start = time.perf_counter()
    probes = start_memory_probes(cfg.memory_accum_steps, cfg.memory_batch, cfg.memory_width, cfg.memory_depth,
                                 run.seed)  # two fresh processes, measured while we compute below
    results = {"equal": compare(*rows("equal"), cfg, run.seed, batch_size=cfg.micro_batch),
               "unequal": compare(*rows("unequal"), cfg, run.seed, batch_sizes=cfg.unequal_sizes),
               "short final group": compare(*rows("short final group"), cfg, run.seed, batch_size=cfg.micro_batch)}
    batchnorm = compare(*rows("equal"), cfg, run.seed, batch_size=cfg.micro_batch, norm="batch")
    for case, result in results.items():
        for step, (exact, naive) in enumerate(zip(result.exact, result.naive)):
            run.log_metrics(case=case, step=step, exact=exact, naive=naive)
    run.log(f"gradient cases done at {time.perf_counter() - start:.1f}s")
    ddp_gap, replica_gap = ddp_difference(*rows("ddp", torch.device("cpu")), cfg, run.seed)
    run.log(f"2-rank DDP done at {time.perf_counter() - start:.1f}s")
    memory = collect_memory_probes(probes)
    run.log(f"memory probes done at {time.perf_counter() - start:.1f}s")

    for case, result in results.items():
        worst = max(result.exact)
        run.metric(f"gradient_relative_difference[{case}]", worst)
        run.metric(f"naive_relative_difference[{case}]", max(result.naive))
        run.metric(f"weight_difference[{case}]", result.weight_difference)
        observed = f"max relative difference {worst:.2e} over {len(result.exact)} steps ({cfg.dtype})"
        if case == "short final group":
            observed += f"; the final group of {cfg.short_tail} items alone: {result.exact[-1]:.2e}"
        run.check(f"{case} micro-batches: the gradient of one big batch", worst <= GRADIENT_TOLERANCE,
                  observed=observed, expected=f"<= {GRADIENT_TOLERANCE:.0e}")
    weight_gaps = {case: r.weight_difference for case, r in results.items()}
    run.check("weights after an epoch equal the big-batch run's", max(weight_gaps.values()) <= WEIGHT_TOLERANCE,
              observed="max |Δw| " + ", ".join(f"{c}: {v:.2e}" for c, v in weight_gaps.items()) + f" ({cfg.dtype})",
              expected=f"<= {WEIGHT_TOLERANCE:.0e}")

    unequal = results["unequal"]
    naive, exact = max(unequal.naive), max(unequal.exact)
    run.check("naive `loss /= accum_steps` misses the big-batch gradient on unequal micro-batches",
              naive > max(GRADIENT_TOLERANCE, exact),
              observed=f"unequal: naive {naive:.2e} vs exact {exact:.2e} (relative gradient difference); naive on "
                       f"equal batches {max(results['equal'].naive):.2e}, with a short final group "
                       f"{max(results['short final group'].naive):.2e}",
              expected=f"naive > {GRADIENT_TOLERANCE:.0e} (outside the tolerance the exact recipe meets)")

    k = cfg.memory_accum_steps
    growth = {kk: m["peak_mb"] - m["baseline_mb"] for kk, m in memory.items()}
    for kk, m in memory.items():
        run.metric(f"peak_rss_mb[k={kk}]", m["peak_mb"])
        run.metric(f"step_rss_growth_mb[k={kk}]", growth[kk])
    activations_mb = cfg.memory_batch * cfg.memory_width * cfg.memory_depth * 2 * 4 / 2**20
    run.check(f"k={k} lowers peak memory", memory[k]["peak_mb"] < memory[1]["peak_mb"] and growth[k] <= 0.5 * growth[1],
              observed=f"peak RSS k=1 {memory[1]['peak_mb']:.0f} MiB, k={k} {memory[k]['peak_mb']:.0f} MiB; growth "
                       f"during the step {growth[1]:.0f} vs {growth[k]:.0f} MiB (ratio {growth[k] / growth[1]:.2f}; "
                       f"saved activations of the full batch ≈ {activations_mb:.0f} MiB)",
              expected=f"k={k} peak below k=1's, its growth during the step <= 0.5 x k=1's")

    bn = max(batchnorm.exact)
    run.metric("gradient_relative_difference[batchnorm]", bn)
    run.check("BatchNorm breaks equality (expected caveat)", bn > BATCHNORM_GAP,
              observed=f"relative gradient difference {bn:.2e} (first step {batchnorm.exact[0]:.2e}): each "
                       f"micro-batch of {cfg.micro_batch} normalises with its own mean and variance",
              expected=f"> {BATCHNORM_GAP:.0e}")

    run.metric("ddp_weight_difference", ddp_gap)
    run.check("2 ranks x k=2 x b under DDP (gloo) = one process with batch 4b", ddp_gap <= WEIGHT_TOLERANCE,
              observed=f"max |w_DDP - w_single| {ddp_gap:.2e} after {cfg.ddp_steps} steps with b="
                       f"{cfg.ddp_micro_batch}; replicas differ by {replica_gap:.1e} ({cfg.dtype})",
              expected=f"<= {WEIGHT_TOLERANCE:.0e}")
    run.figure("gradient_difference", gradient_figure(results, batchnorm))
    run.figure("peak_memory", memory_figure(memory, cfg.memory_batch))


def gradient_figure(results: dict[str, CaseResult], batchnorm: CaseResult) -> Any:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.5, 4.2))
    ax = fig.add_subplot()
    floor = 1e-18  # log scale: an exact 0 is drawn at the floor and labelled
    bars = [("exact: fit, Σℓ / N_group", [max(results[c].exact) for c in CASES], -0.2, "tab:blue"),
            ("naive: mean loss / k", [max(results[c].naive) for c in CASES], 0.2, "tab:red")]
    for label, values, offset, color in bars:
        for i, value in enumerate(values):
            ax.bar(i + offset, max(value, floor), 0.4, color=color, label=label if i == 0 else None)
            ax.text(i + offset, max(value, floor), "0" if value == 0 else f"{value:.0e}", ha="center", va="bottom",
                    fontsize=7)
    bn = max(batchnorm.exact)
    ax.bar(len(CASES), bn, 0.4, color="tab:gray", label="fit, MLP with BatchNorm (caveat)")
    ax.text(len(CASES), bn, f"{bn:.0e}", ha="center", va="bottom", fontsize=7)
    ax.axhline(GRADIENT_TOLERANCE, color="black", linestyle="--", linewidth=1, label="tolerance 1e-6")
    ax.set_yscale("log")
    ax.set_ylim(floor / 2, 10)
    ax.set_xticks(range(len(CASES) + 1), [*CASES, "equal,\nBatchNorm"])
    ax.set_ylabel("max relative gradient difference\nvs one big batch")
    ax.set_title("k accumulated micro-batches vs one big batch (max over steps)")
    ax.legend(fontsize=8, loc="upper left")
    return fig


def memory_figure(memory: dict[int, dict[str, float]], batch: int) -> Any:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4.5, 4.2))
    ax = fig.add_subplot()
    labels = [f"k={k}" for k in memory]
    baseline = [m["baseline_mb"] for m in memory.values()]
    growth = [m["peak_mb"] - m["baseline_mb"] for m in memory.values()]
    ax.bar(labels, baseline, color="tab:gray", label="before the step (Python, torch, data, model)")
    ax.bar(labels, growth, bottom=baseline, color="tab:orange", label="growth during one optimizer step")
    for i, m in enumerate(memory.values()):
        ax.text(i, m["peak_mb"], f"{m['peak_mb']:.0f} MiB", ha="center", va="bottom")
    ax.set_ylim(0, 1.4 * max(m["peak_mb"] for m in memory.values()))
    ax.set_ylabel("peak RSS of a fresh process (MiB)")
    ax.set_title(f"one optimizer step on {batch} rows")
    ax.legend(fontsize=8, loc="upper center")
    return fig
