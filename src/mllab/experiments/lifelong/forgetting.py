"""catastrophic-forgetting: tasks learned one after another are forgotten; learned together they are not."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from mllab.continual import SCENARIOS, average_accuracy, forgetting, make_stream
from mllab.core import figures
from mllab.core.config import Config, at_least, in_range, positive
from mllab.core.errors import BadInput
from mllab.core.registry import NegativeControl, experiment
from mllab.core.run import Run
from mllab.data.images import check_image_dataset
from mllab.experiments.lifelong.common import DATASETS, judged_seeds, run_strategy

PERMUTED_SCENARIO = "domain"  # permuted images: every task the same 10 classes, one shared head


@dataclass
class CatastrophicForgettingConfig(Config):
    dataset: str = "mnist5k"
    """images: mnist5k (bundled), or mnist / cifar10 from --data-dir (the MLP takes any flattened image)"""
    seeds: int = 3
    """judged seeds derive_seed(--seed, "judge", i) (paired: one seed draws the split, permutations, weights)"""
    tasks: int = 5
    """tasks per stream (split: the 10 digits cut into this many groups; permuted: this many permutations)"""
    epochs: int = 2
    """passes over each task's training set (joint: over the union of the tasks so far)"""
    lr: float = 1e-3
    """Adam learning rate, kept across tasks (van de Ven et al. use Adam 1e-3)"""
    batch_size: int = 64
    """mini-batch size"""
    width: int = 100
    """hidden units of each of the MLP's two layers"""
    split_scenario: str = "class"
    """scenario of the split stream: task | domain | class (van de Ven et al.); permuted is domain-incremental"""
    forgetting_margin: float = 0.2
    """the claim: naive fine-tuning loses more than this much of task 1's accuracy by the last task (split)"""
    permuted_margin: float = 0.05
    """the claim: the same on the permuted stream (forgetting there is gradual)"""
    max_joint_forgetting: float = 0.05
    """the claim: joint training forgets at most this much (mean forgetting over tasks and seeds)"""

    thresholds: ClassVar[tuple[str, ...]] = ("split_scenario", "forgetting_margin", "permuted_margin",
                                             "max_joint_forgetting")
    rules: ClassVar[dict] = {"seeds": at_least(1), "tasks": at_least(1), "epochs": at_least(1), "lr": positive,
                             "batch_size": at_least(1), "width": at_least(1), "forgetting_margin": in_range(-1, 1),
                             "permuted_margin": in_range(-1, 1), "max_joint_forgetting": in_range(0, 1)}
    profiles: ClassVar[dict] = {"smoke": {"seeds": 2, "tasks": 2, "epochs": 1, "width": 16},
                                "full": {"seeds": 10, "epochs": 10, "width": 400}}
    real_dataset: ClassVar[str] = "mnist"  # the full profile with --data-dir

    def validate(self) -> None:
        super().validate()
        check_image_dataset(self.dataset, DATASETS)
        if self.tasks > 10:
            raise BadInput(f"--set tasks: {self.tasks} tasks would leave a task of the split stream without "
                           "classes (there are 10); use 1..10")
        if self.split_scenario not in SCENARIOS:
            raise BadInput(f"--set split_scenario: unknown scenario {self.split_scenario!r}; choose one of "
                           f"{', '.join(SCENARIOS)}")


@experiment("catastrophic-forgetting", section="lifelong",
            claim="Learning tasks one after another forgets the earlier ones: by the last task naive fine-tuning has "
                  "lost more than {forgetting_margin:.0%} of task 1's accuracy on split images "
                  "({split_scenario}-incremental; mnist5k unless --set dataset) and more than {permuted_margin:.0%} "
                  "on permuted images; learning them together (joint) forgets at most {max_joint_forgetting:.0%} "
                  "and reaches a higher average accuracy, the bound for life-long learning.",
            negative_control=NegativeControl(
                overrides=("tasks=1",),
                fails=("naive forgets task 1 (split)", "naive forgets task 1 (permuted)", "joint beats naive (split)",
                       "joint beats naive (permuted)"),
                why="with a single task there is nothing to forget and joint training is naive training"))
def catastrophic_forgetting(run: Run, cfg: CatastrophicForgettingConfig) -> None:
    """Split images (class-incremental: one 10-way head answered over every class seen) and permuted images
    (domain-incremental: one 10-way head) with an MLP D-100-100 (`mllab.continual`). The images: `dataset` — mnist5k (D
    = 784, bundled; the quick default), the user's MNIST (784) or CIFAR-10 (3,072, colour pixels permuted as a whole),
    both from --data-dir; the full profile takes MNIST when --data-dir is given. Naive fine-tuning trains each task in
    turn; joint trains, after each task, on the union of every task so far (from the weights reached so far). Both at
    Adam 1e-3, the same number of passes per stage (joint's passes cover the union: more gradient steps, the point of
    the bound). The accuracy matrix R[i, j] (test accuracy on task j after task i) gives forgetting. No hyperparameter
    was tuned for this claim (van de Ven et al.'s optimiser and rate). Judged seeds: derive_seed(--seed, "judge", i)."""
    STREAMS = {"split": cfg.split_scenario, "permuted": PERMUTED_SCENARIO}  # stream -> the scenario it is run in
    R = {s: {a: [] for a in ("naive", "joint")} for s in STREAMS}
    data = {"dataset": cfg.dataset}  # what the streams were made of (the last seed's split)
    bar = run.progress(total=cfg.seeds * 4, desc="seeds × streams × arms")
    for seed in judged_seeds(run.seed, cfg.seeds):
        for stream_name, scenario in STREAMS.items():
            stream = make_stream(stream_name, cfg.tasks, seed, cfg.dataset, run.data_dir)
            data[f"training images per task ({stream_name})"] = [len(t.train) for t in stream.tasks]
            data["values per image"] = stream.n_inputs
            for arm in ("naive", "joint"):
                R[stream_name][arm].append(run_strategy(stream, scenario, arm, seed=seed, width=cfg.width,
                                                        epochs=cfg.epochs, lr=cfg.lr, batch_size=cfg.batch_size))
                bar.update()
    bar.close()
    run.metric("data", data)

    for s in STREAMS:
        for arm in ("naive", "joint"):
            run.metric(f"{s}: {arm}: accuracy matrix R (mean over seeds)", np.mean(R[s][arm], 0))
            run.metric(f"{s}: {arm}: average accuracy", [average_accuracy(r) for r in R[s][arm]])
            run.metric(f"{s}: {arm}: forgetting", [forgetting(r) for r in R[s][arm]])
    margins = {"split": cfg.forgetting_margin, "permuted": cfg.permuted_margin}
    for s in STREAMS:
        naive = R[s]["naive"]
        run.compare(f"naive forgets task 1 ({s})", [r[0, 0] for r in naive], [r[-1, 0] for r in naive],
                    margin=margins[s], better="higher", labels=("task 1 just learned", "task 1 after the last task"))
    for s in STREAMS:
        f = float(np.mean([forgetting(r) for r in R[s]["joint"]]))
        run.check(f"joint does not forget ({s})", f <= cfg.max_joint_forgetting,
                  observed=f"joint forgetting {f:.3f} (naive {np.mean([forgetting(r) for r in R[s]['naive']]):.3f})",
                  expected=f"<= {cfg.max_joint_forgetting:g}")
        run.compare(f"joint beats naive ({s})", [average_accuracy(r) for r in R[s]["joint"]],
                    [average_accuracy(r) for r in R[s]["naive"]], margin=0.0, better="higher",
                    labels=("joint", "naive"))
    _figure(run, R, STREAMS)


def _figure(run: Run, R, STREAMS) -> None:
    fig, axes = figures.subplots(2, 3, panel=(3.7, 3.2))
    for row, s in enumerate(STREAMS):
        naive, joint = np.mean(R[s]["naive"], 0), np.mean(R[s]["joint"], 0)
        T = len(naive)
        for ax, (arm, M) in zip(axes[3 * row:3 * row + 2], (("naive", naive), ("joint", joint))):
            im = ax.imshow(100 * M, vmin=0, vmax=100, cmap="viridis")
            for i in range(T):
                for j in range(T):
                    ax.text(j, i, f"{100 * M[i, j]:.0f}", ha="center", va="center", fontsize=7,
                            color="white" if M[i, j] < 0.6 else "black")
            ax.set_xticks(range(T), [str(j + 1) for j in range(T)])
            ax.set_yticks(range(T), [str(i + 1) for i in range(T)])
            ax.set(title=f"{s}, {arm}: R[i, j] (%)", xlabel="tested on task j", ylabel="after task i")
        fig.colorbar(im, ax=axes[3 * row + 1], label="test accuracy (%)")
        ax = axes[3 * row + 2]
        steps = np.arange(1, T + 1)
        for arm, color in (("naive", figures.FAILS), ("joint", figures.BASELINE)):
            per_seed = 100 * np.array([r[:, 0] for r in R[s][arm]])  # (seeds, T)
            ax.plot(steps, per_seed.mean(0), "o-", color=color, label=arm)
        ax.set(title=f"{s} ({STREAMS[s]}-IL): task 1", xlabel="tasks learned", ylabel="task 1 test accuracy (%)",
               ylim=(0, 102), xticks=steps)
        figures.legend_outside(ax)
    run.figure("accuracy_matrix", fig)
