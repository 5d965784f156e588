"""grad-accumulation: k accumulated micro-batches = one k-times larger batch, at lower peak memory.

`fit` counts the items N_group of a whole accumulation group first and backpropagates each
micro-batch's loss_sum / N_group, so

    ∇ = (1 / N_group) Σ_{micro-batches j} Σ_{i in j} ∇ℓ_i          (exact: the big batch's mean)

whereas the common recipe `loss = mean_loss_j / k` gives

    ∇_naive = (1 / k) Σ_j (1 / n_j) Σ_{i in j} ∇ℓ_i                (equal only when every n_j = N_group / k)

The recipe under test (`recipe`, fit's exact one by default) is measured against the big batch on
`seeds` seeds: the gradient at every step (equal, unequal and short-final-group micro-batches), the
weights after an epoch, a 2-rank gloo DDP run against one process with the combined batch (fit), the
BatchNorm caveat (batch statistics depend on the micro-batch) and the peak memory of fresh processes
(k=1 vs k=`memory_accum_steps`, one pair per seed, compared with `run.compare`).

Claim vs sanity. The claim is about the recipe: its gradient and weights equal the big batch's. The
sanity check is the apparatus: the hand-written naive recipe, evaluated at the big-batch run's weights,
must miss the big-batch gradient on unequal micro-batches, otherwise these cases could not tell a right
recipe from a wrong one. Equalities are deterministic (float64), so they are checked against a tolerance
on every seed (the worst seed counts), not by a t-interval; the memory comparison is noisy and uses
`run.compare`. Negative control: `recipe=naive` (the common recipe as the method under test) must fail
the unequal and short-final-group cases, and `memory_accum_steps=1` (k = 1 in both arms) the memory claim.

Data: `dataset` (digits by default; mnist5k, or your MNIST / CIFAR-10 files with --data-dir) as flat vectors, the
MLP's input size following the data (64, 784 or 3072 features); the cases use the first rows of the training
split. The peak-memory probe runs on random 64-feature inputs in fresh processes whatever the dataset: it measures
the recipe's memory, not the data's. Seeds: derive_seed(seed, "judge", k).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from torch.nn.utils import parameters_to_vector, vector_to_parameters

from mllab.analysis.memory import collect_memory_probes, start_memory_probes
from mllab.core import figures
from mllab.core.config import Config, at_least, in_range, nonempty, positive
from mllab.core.devices import torch_threads
from mllab.core.errors import BadInput
from mllab.core.registry import NegativeControl, experiment
from mllab.core.run import Run
from mllab.core.seeding import derive_seed
from mllab.data import TensorLoader
from mllab.data.datasets import FLAT_DATASETS, check_dataset, load_flat
from mllab.models.mlp import MLP
from mllab.train import fit
from mllab.train.distributed import launch
from mllab.train.losses import cross_entropy_sum

CASES = ("equal", "unequal", "short final group")


@dataclass
class AccumulationConfig(Config):
    dataset: str = "digits"
    """the data the MLP trains on, as flat vectors: digits | mnist5k (both bundled) | mnist | cifar10 (your files:
    --data-dir)"""
    recipe: Literal["exact", "naive"] = "exact"
    """the accumulation recipe under test: exact (fit: Σℓ / N_group) or naive (mean loss / k per micro-batch)"""
    seeds: int = 3
    """seeds (data order, initialisation, memory-probe batch) of the gradient cases and the memory pairs"""
    gradient_tolerance: float = 1e-6
    """the claim: max relative gradient difference from the big batch that counts as the same gradient"""
    weight_tolerance: float = 1e-5
    """the claim: max |Δw| after an epoch that counts as the same weights"""
    batchnorm_gap: float = 1e-4
    """the claim: with BatchNorm the relative gradient difference exceeds this (the caveat)"""
    memory_share: float = 0.5
    """the claim: RSS growth during a step with k micro-batches is below this share of k=1's"""
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
    """hidden units of the MLP"""
    depth: int = 2
    """hidden layers of the MLP"""
    lr: float = 0.1
    """SGD learning rate"""
    momentum: float = 0.9
    """SGD momentum"""
    dtype: Literal["float64", "float32"] = "float64"
    """dtype of the equality checks (the tolerances are meant for float64)"""
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
        "smoke": {"groups": 2, "memory_batch": 8192, "ddp_steps": 2, "seeds": 2},
        "full": {"groups": 19, "memory_batch": 65536, "memory_width": 512, "ddp_steps": 32, "seeds": 5},
    }
    rules: ClassVar[dict] = {
        "seeds": at_least(1), "gradient_tolerance": positive, "weight_tolerance": positive,
        "batchnorm_gap": positive, "memory_share": in_range(0, 1, closed=False), "micro_batch": at_least(1),
        "accum_steps": at_least(1), "unequal_sizes": (nonempty, at_least(1)), "groups": at_least(1),
        "short_tail": at_least(1), "width": at_least(1), "depth": at_least(1), "lr": positive,
        "momentum": in_range(0, 1), "memory_batch": at_least(1), "memory_accum_steps": at_least(1),
        "memory_width": at_least(1), "memory_depth": at_least(1), "ddp_micro_batch": at_least(1),
        "ddp_steps": at_least(1)}
    real_dataset: ClassVar[str | None] = "mnist"

    def validate(self) -> None:
        super().validate()
        check_dataset(self.dataset, FLAT_DATASETS)
        if self.short_tail >= self.accum_steps * self.micro_batch:
            raise BadInput(f"--set short_tail: must be below accum_steps * micro_batch = "
                           f"{self.accum_steps * self.micro_batch} to make the final group short")
        if self.memory_batch % self.memory_accum_steps:
            raise BadInput(f"--set memory_batch: must be a multiple of memory_accum_steps={self.memory_accum_steps}")
        if self.momentum >= 1:
            raise BadInput(f"--set momentum: must lie in [0, 1), got {self.momentum}")

    def samples_needed(self) -> dict[str, int]:
        """Items per epoch of each case."""
        k, steps = self.accum_steps, self.groups
        unequal = sum(self.unequal_sizes[i % len(self.unequal_sizes)] for i in range(steps * k))
        return {"equal": steps * k * self.micro_batch, "unequal": unequal,
                "short final group": steps * k * self.micro_batch + self.short_tail,
                "ddp": 4 * self.ddp_micro_batch * self.ddp_steps}




def make_model(seed: int, width: int, depth: int, dtype: torch.dtype, norm: str | None = None,
               in_features: int = 64) -> MLP:
    """MLP in_features -> width ×depth -> 10 (in_features: 64 for digits, 784 for MNIST, 3072 for CIFAR-10)."""
    torch.manual_seed(seed)
    return MLP(in_features, 10, width=width, depth=depth, norm=norm).to(dtype)


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


def naive_epoch(model: torch.nn.Module, loader: Any, accum_steps: int, optimizer: torch.optim.Optimizer) -> None:
    """One epoch of the common recipe: each micro-batch's mean loss / k, a step every k micro-batches (and
    after the last); written by hand because fit (by design) cannot express it."""
    micro = list(loader)
    for start in range(0, len(micro), accum_steps):
        optimizer.zero_grad(set_to_none=True)
        for x, y in micro[start:start + accum_steps]:
            (F.cross_entropy(model(x), y) / accum_steps).backward()  # mean over the micro-batch, then / k
        optimizer.step()


def train_one_epoch(model: torch.nn.Module, loader: Any, accum_steps: int, cfg: AccumulationConfig,
                    recipe: str = "exact") -> Trace:
    """One epoch with `recipe` ("exact": fit; "naive": `naive_epoch`), recording every step."""
    optimizer = RecordingSGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum)
    if recipe == "exact":
        fit(model, cross_entropy_sum, loader, optimizer, epochs=1, accum_steps=accum_steps)
    else:
        naive_epoch(model, loader, accum_steps, optimizer)
    return Trace(optimizer.weights, optimizer.gradients, parameters_to_vector(model.parameters()).detach())


def relative_difference(gradient: torch.Tensor, reference: torch.Tensor) -> float:
    """max_i |g_i - r_i| / max_i |r_i| over the whole flattened gradient."""
    return ((gradient - reference).abs().max() / reference.abs().max()).item()


def naive_gradient(model: torch.nn.Module, weights: torch.Tensor, group: list[Any], accum_steps: int) -> torch.Tensor:
    """The naive recipe's gradient for one group at `weights` (the sanity check's probe)."""
    vector_to_parameters(weights, model.parameters())
    model.zero_grad(set_to_none=True)
    for x, y in group:
        loss = F.cross_entropy(model(x), y) / accum_steps  # mean over the micro-batch, then / k
        loss.backward()
    return parameters_to_vector([p.grad for p in model.parameters()])


@dataclass
class CaseResult:
    tested: list[float]  # per step: relative gradient difference, the recipe under test vs one big batch
    naive: list[float] = field(default_factory=list)  # per step: the naive recipe at the big run's weights
    weight_difference: float = 0.0  # max |w_accumulated - w_big| after the epoch


def compare(x: torch.Tensor, y: torch.Tensor, cfg: AccumulationConfig, seed: int, *, batch_size: int = 1,
            batch_sizes: tuple[int, ...] | None = None, norm: str | None = None) -> CaseResult:
    """One epoch with k micro-batches (the recipe under test) and one with the groups' concatenations as
    single batches."""
    k, dtype = cfg.accum_steps, x.dtype
    loader = TensorLoader((x, y), batch_size, batch_sizes=batch_sizes, seed=seed % 2**32)
    micro = list(loader)
    groups = [micro[i:i + k] for i in range(0, len(micro), k)]
    # the same shuffled order (it depends only on seed and epoch) cut at the group boundaries
    big_loader = TensorLoader((x, y), 1, batch_sizes=[sum(len(b[1]) for b in g) for g in groups], seed=seed % 2**32)
    model = make_model(seed, cfg.width, cfg.depth, dtype, norm, x.shape[1]).to(x.device)
    accumulated = train_one_epoch(model, loader, k, cfg, cfg.recipe)
    big = train_one_epoch(make_model(seed, cfg.width, cfg.depth, dtype, norm, x.shape[1]).to(x.device), big_loader,
                          1, cfg)
    result = CaseResult(tested=[relative_difference(a, b) for a, b in zip(accumulated.gradients, big.gradients)],
                        weight_difference=(accumulated.final - big.final).abs().max().item())
    if norm is None:
        result.naive = [relative_difference(naive_gradient(model, w, group, k), g)
                        for w, group, g in zip(big.weights, groups, big.gradients)]
    return result


def worst(results: list[CaseResult]) -> CaseResult:
    """The worst seed of one case: the largest difference at each step, over seeds."""
    return CaseResult(tested=np.max([r.tested for r in results], axis=0).tolist(),
                      naive=np.max([r.naive for r in results], axis=0).tolist() if results[0].naive else [],
                      weight_difference=max(r.weight_difference for r in results))


def ddp_worker(rank: int, world_size: int, x: torch.Tensor, y: torch.Tensor, cfg: AccumulationConfig,
               seed: int) -> torch.Tensor:
    """One DDP rank: its shard in micro-batches of b, k=2; returns the flat weights after the epoch."""
    model = DistributedDataParallel(make_model(seed, cfg.width, cfg.depth, x.dtype, in_features=x.shape[1]))
    loader = TensorLoader((x, y), cfg.ddp_micro_batch, seed=seed, rank=rank, world_size=world_size)
    optimizer = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum)
    fit(model, cross_entropy_sum, loader, optimizer, epochs=1, accum_steps=2)
    return parameters_to_vector(model.module.parameters()).detach()


def ddp_difference(x: torch.Tensor, y: torch.Tensor, cfg: AccumulationConfig, seed: int) -> tuple[float, float]:
    """(max |w_rank0 - w_single|, max |w_rank0 - w_rank1|): 2 ranks x k=2 x b against one process, batch 4b."""
    ranks = launch(ddp_worker, 2, x, y, cfg, seed)
    # rank r takes order[r::2]; its group g is order_r[2bg : 2b(g+1)], so the two ranks' groups = order[4bg : 4b(g+1)]
    single = make_model(seed, cfg.width, cfg.depth, x.dtype, in_features=x.shape[1])
    optimizer = torch.optim.SGD(single.parameters(), lr=cfg.lr, momentum=cfg.momentum)
    fit(single, cross_entropy_sum, TensorLoader((x, y), 4 * cfg.ddp_micro_batch, seed=seed), optimizer, epochs=1)
    reference = parameters_to_vector(single.parameters()).detach()
    return (ranks[0] - reference).abs().max().item(), (ranks[0] - ranks[1]).abs().max().item()


@experiment("grad-accumulation", section="training",
            claim="Accumulating k micro-batches with fit's recipe (each micro-batch's loss sum / the group's item "
                  "count) gives the gradient of one k-times larger batch to within {gradient_tolerance:.0e} "
                  "(relative), also for unequal micro-batches and a short final group, and its weights after an "
                  "epoch to within {weight_tolerance:.0e}, also across 2 DDP ranks; with BatchNorm the gradients "
                  "differ (by more than {batchnorm_gap:.0e}); k = {memory_accum_steps} micro-batches keep the "
                  "memory growth of a step below {memory_share:.0%} of one big batch's.",
            negative_control=NegativeControl(
                overrides=("recipe=naive", "memory_accum_steps=1"),
                fails=("unequal micro-batches: the gradient of one big batch",
                       "short final group micro-batches: the gradient of one big batch",
                       "weights after an epoch equal the big-batch run's", "accumulation lowers peak memory"),
                why="mean loss / k weights unequal micro-batches wrongly; k = 1 in both memory arms saves nothing"))
def grad_accumulation(run: Run, cfg: AccumulationConfig) -> None:
    """The recipe under test with k micro-batches vs one big batch (an MLP on `dataset`), peak RSS, BatchNorm, DDP."""
    with torch_threads(1):  # batches of 5..64 rows: a second thread only adds synchronisation
        measure(run, cfg)


def measure(run: Run, cfg: AccumulationConfig) -> None:
    """The experiment's body: gradient cases, BatchNorm, DDP and memory, then checks and figures."""
    dtype = getattr(torch, cfg.dtype)
    device = torch.device("cpu") if run.device.type == "mps" else run.device  # MPS has no float64
    data = load_flat(cfg.dataset, seed=run.seed, data_dir=run.data_dir)
    x_all, y_all = data.train.x.to(dtype), data.train.y  # (N, D), (N,): digits (1257, 64)
    needed = cfg.samples_needed()
    if max(needed.values()) > len(y_all):
        raise BadInput(f"--set groups: the cases need {max(needed.values())} samples but {cfg.dataset} has "
                       f"{len(y_all)} training samples; lower groups, micro_batch, unequal_sizes or ddp_steps")

    def rows(case: str, on: torch.device = device) -> tuple[torch.Tensor, torch.Tensor]:
        return x_all[:needed[case]].to(on), y_all[:needed[case]].to(on)

    seeds = [derive_seed(run.seed, "judge", k) for k in range(cfg.seeds)]
    per_seed: dict[str, list[CaseResult]] = {case: [] for case in (*CASES, "batchnorm")}
    # two fresh processes per seed (k=1, k=memory_accum_steps), all started now and measured while we compute
    probes = [start_memory_probes(cfg.memory_accum_steps, cfg.memory_batch, cfg.memory_width, cfg.memory_depth,
                                  seed) for seed in seeds]
    for seed in run.progress(seeds, desc="seeds"):
        per_seed["equal"].append(compare(*rows("equal"), cfg, seed, batch_size=cfg.micro_batch))
        per_seed["unequal"].append(compare(*rows("unequal"), cfg, seed, batch_sizes=cfg.unequal_sizes))
        per_seed["short final group"].append(compare(*rows("short final group"), cfg, seed,
                                                     batch_size=cfg.micro_batch))
        per_seed["batchnorm"].append(compare(*rows("equal"), cfg, seed, batch_size=cfg.micro_batch, norm="batch"))
    memory = [collect_memory_probes(pair) for pair in probes]
    results = {case: worst(per_seed[case]) for case in CASES}
    batchnorm = min(per_seed["batchnorm"], key=lambda r: max(r.tested))  # the seed closest to equality
    for case, result in results.items():
        for step, (tested, naive) in enumerate(zip(result.tested, result.naive)):
            run.log_metrics(case=case, step=step, tested=tested, naive=naive)
    ddp_gap, replica_gap = ddp_difference(*rows("ddp", torch.device("cpu")), cfg, run.seed)

    for case, result in results.items():
        largest = max(result.tested)
        run.metric(f"gradient_relative_difference[{case}]", largest)
        run.metric(f"naive_relative_difference[{case}]", max(result.naive))
        run.metric(f"weight_difference[{case}]", result.weight_difference)
        observed = (f"{cfg.recipe} recipe: max relative difference {largest:.2e} over {len(result.tested)} steps "
                    f"and {cfg.seeds} seeds ({cfg.dtype})")
        if case == "short final group":
            observed += f"; the final group of {cfg.short_tail} items alone: {result.tested[-1]:.2e}"
        run.check(f"{case} micro-batches: the gradient of one big batch", largest <= cfg.gradient_tolerance,
                  observed=observed, expected=f"<= {cfg.gradient_tolerance:.0e}")
    weight_gaps = {case: r.weight_difference for case, r in results.items()}
    run.check("weights after an epoch equal the big-batch run's", max(weight_gaps.values()) <= cfg.weight_tolerance,
              observed=f"{cfg.recipe} recipe: max |Δw| " + ", ".join(f"{c}: {v:.2e}" for c, v in weight_gaps.items())
              + f" (worst of {cfg.seeds} seeds, {cfg.dtype})", expected=f"<= {cfg.weight_tolerance:.0e}")

    naive = max(results["unequal"].naive)
    run.check("the cases tell recipes apart: naive `loss / k` misses the big batch on unequal micro-batches",
              naive > cfg.gradient_tolerance, kind="sanity",
              observed=f"naive recipe at the big-batch run's weights: unequal {naive:.2e}; equal "
                       f"{max(results['equal'].naive):.2e}; short final group "
                       f"{max(results['short final group'].naive):.2e} (relative gradient difference)",
              expected=f"unequal > {cfg.gradient_tolerance:.0e}")

    bn = max(batchnorm.tested)
    run.metric("gradient_relative_difference[batchnorm]", bn)
    run.check("BatchNorm breaks equality (expected caveat)", bn > cfg.batchnorm_gap,
              observed=f"relative gradient difference {bn:.2e} (seed closest to equality; first step "
                       f"{batchnorm.tested[0]:.2e}): each micro-batch of {cfg.micro_batch} normalises with its own "
                       "mean and variance", expected=f"> {cfg.batchnorm_gap:.0e}")

    run.metric("ddp_weight_difference", ddp_gap)
    run.check("2 ranks x k=2 x b under DDP (gloo) = one process with batch 4b", ddp_gap <= cfg.weight_tolerance,
              observed=f"max |w_DDP - w_single| {ddp_gap:.2e} after {cfg.ddp_steps} steps with b="
                       f"{cfg.ddp_micro_batch} (fit's recipe); replicas differ by {replica_gap:.1e} ({cfg.dtype})",
              expected=f"<= {cfg.weight_tolerance:.0e}")

    k = cfg.memory_accum_steps
    growth = {kk: [m[kk]["peak_mb"] - m[kk]["baseline_mb"] for m in memory] for kk in (1, k)}
    run.metric("peak_rss_mb", {f"k={kk}": [m[kk]["peak_mb"] for m in memory] for kk in (1, k)})
    run.metric("step_rss_growth_mb", {f"k={kk}": growth[kk] for kk in (1, k)})
    saved = run.compare("accumulation lowers peak memory", [cfg.memory_share * g for g in growth[1]], growth[k],
                        margin=0.0, better="higher",
                        labels=(f"{cfg.memory_share:g} x growth at k=1 (MiB)", f"growth at k={k} (MiB)"))
    passed = {c.name: c.passed for c in run.checks}
    run.figure("gradient_difference", gradient_figure(cfg, results, batchnorm, passed))
    run.figure("peak_memory", memory_figure(cfg, memory, saved.passed))


def gradient_figure(cfg: AccumulationConfig, results: dict[str, CaseResult], batchnorm: CaseResult,
                    passed: dict[str, bool]) -> Any:
    fig, axes = figures.subplots(1, 1, panel=(7.5, 4.0))
    ax = axes[0]
    floor = 1e-18  # log scale: an exact 0 is drawn at the floor and labelled
    tested = [max(results[c].tested) for c in CASES]
    naive = [max(results[c].naive) for c in CASES]
    for i, case in enumerate(CASES):
        color = figures.verdict_color(passed[f"{case} micro-batches: the gradient of one big batch"])
        ax.bar(i - 0.2, max(tested[i], floor), 0.4, color=color,
               label=f"{cfg.recipe} recipe under test" if i == 0 else None)
        ax.bar(i + 0.2, max(naive[i], floor), 0.4, color=figures.SERIES[1],
               label="naive mean loss / k (sanity probe)" if i == 0 else None)
        for offset, value in ((-0.2, tested[i]), (0.2, naive[i])):
            ax.text(i + offset, max(value, floor), "0" if value == 0 else f"{value:.0e}", ha="center", va="bottom",
                    fontsize=7)
    bn = max(batchnorm.tested)
    ax.bar(len(CASES), bn, 0.4, color=figures.verdict_color(passed["BatchNorm breaks equality (expected caveat)"]),
           label="MLP with BatchNorm (caveat: must differ)")
    ax.text(len(CASES), bn, f"{bn:.0e}", ha="center", va="bottom", fontsize=7)
    ax.axhline(cfg.gradient_tolerance, color=figures.BASELINE, linestyle="--", linewidth=1,
               label=f"tolerance {cfg.gradient_tolerance:.0e}")
    ax.set_yscale("log")
    ax.set_ylim(floor / 2, 10)
    ax.set_xticks(range(len(CASES) + 1), [c.replace(" final ", "\nfinal ") for c in CASES] + ["equal,\nBatchNorm"])
    ax.set(title=f"k={cfg.accum_steps} micro-batches vs one big batch (worst step and seed)",
           xlabel="micro-batch sizes", ylabel="max relative gradient difference")
    figures.legend_outside(ax)
    return fig


def memory_figure(cfg: AccumulationConfig, memory: list[dict[int, dict[str, float]]], passed: bool) -> Any:
    fig, axes = figures.subplots(1, 1, panel=(4.6, 3.8))
    ax = axes[0]
    ks = (1, cfg.memory_accum_steps)
    baseline = [np.mean([m[k]["baseline_mb"] for m in memory]) for k in ks]
    growth = [np.mean([m[k]["peak_mb"] - m[k]["baseline_mb"] for m in memory]) for k in ks]
    labels = [f"k={k}" for k in ks]
    ax.bar(labels, baseline, color=figures.BASELINE, label="before the step (Python, torch, data, model)")
    ax.bar(labels, growth, bottom=baseline, color=[figures.SERIES[0], figures.verdict_color(passed)],
           label="growth during one optimizer step")
    for i, (b, g) in enumerate(zip(baseline, growth)):
        ax.text(i, b + g, f"{b + g:.0f} MiB", ha="center", va="bottom", fontsize=8)
    ax.set_ylim(0, 1.25 * max(b + g for b, g in zip(baseline, growth)))
    ax.set(title=f"one step on {cfg.memory_batch} rows (mean of {len(memory)} seeds)",
           xlabel="micro-batches per step", ylabel="peak RSS of a fresh process (MiB)")
    figures.legend_outside(ax)
    return fig
