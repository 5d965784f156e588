"""pooling: pooling saves computation at little cost on images, but hurts where every cell matters (why AlphaGo's
policy network has no pooling).

Data: part 1 takes `--set dataset=mnist5k|mnist|cifar10` (your MNIST / CIFAR-10 files with --data-dir; the full
profile uses mnist when a folder is given): the CNN's input channels and read-out size follow the images (1 × 28 × 28
or 3 × 32 × 32). digits' 8 × 8 images are refused: two 2 × 2 pools leave 2 × 2 maps, too little to say what pooling
costs. Part 2, the five-in-a-row board, is generated and stays as it is. Judged seeds: derive_seed(seed, "judge", i).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from mllab.core import figures
from mllab.core.config import Config, at_least, in_range, nonempty, positive
from mllab.core.errors import BadInput
from mllab.core.registry import NegativeControl, experiment
from mllab.core.run import Run
from mllab.data import Split
from mllab.data.board import make_board_task, top1_accuracy
from mllab.data.images import IMAGE_DATASETS, check_image_dataset, image_shape, load_images
from mllab.experiments.cnn.common import accuracy, seeds, train_steps
from mllab.models.cnn import CNN, parameter_count


DIGITS_TOO_SMALL = "its 8 × 8 images leave 2 × 2 maps after two poolings; the CNN needs 28 × 28 or 32 × 32 images"


@dataclass
class PoolingConfig(Config):
    dataset: str = "mnist5k"
    """part 1's images: mnist5k (bundled) | mnist | cifar10 (your files: --data-dir)"""
    seeds: int = 3
    """judged seeds (paired: one seed draws the data and both arms' initialisation)"""
    pooled_arm_pools: bool = True
    """the pooled arm uses 2×2 max-pooling (false: the negative control, no pooling in either arm)"""
    batch_size: int = 64
    """mini-batch size of both parts"""
    digit_steps: int = 110
    """part 1: Adam steps on the images (110 × 64 ≈ 2 epochs of mnist5k's 3,500 training images)"""
    digit_lr: float = 3e-3
    """part 1: Adam learning rate of both arms (chosen on mnist5k, data seed 100, not judged)"""
    digit_channels: tuple[int, ...] = (8, 16)
    """part 1: channels of the two 3×3 conv blocks"""
    board_size: int = 9
    """part 2: the board's side (cells)"""
    board_train: int = 2000
    """part 2: training positions per seed"""
    board_test: int = 500
    """part 2: test positions per seed"""
    board_steps: int = 300
    """part 2: Adam steps (equal for both arms)"""
    board_lr: float = 3e-3
    """part 2: Adam learning rate of both arms (chosen on data seed 100, not judged)"""
    board_channels: int = 16
    """part 2: channels of each of the three conv blocks (5×5, 3×3, 3×3, padding 'same')"""
    distractors: tuple[int, int] = (4, 10)
    """part 2: scattered stones per player besides the lines (low, high)"""
    flop_saving: float = 2.0
    """the claim: pooling cuts the digit CNN's forward FLOPs at least this many times"""
    max_cost: float = 0.03
    """the claim: pooling costs less than this much digit test accuracy (fraction)"""
    margin: float = 0.10
    """the claim: on the board, top-1 accuracy without pooling beats with pooling by more than this (fraction)"""

    thresholds: ClassVar[tuple[str, ...]] = ("flop_saving", "max_cost", "margin")
    rules: ClassVar[dict] = {"seeds": at_least(1), "batch_size": at_least(1), "digit_steps": at_least(1),
                             "digit_lr": positive, "digit_channels": (nonempty, at_least(1)), "board_size": at_least(1),
                             "board_train": at_least(1), "board_test": at_least(1), "board_steps": at_least(1),
                             "board_lr": positive, "board_channels": at_least(1), "distractors": at_least(0),
                             "flop_saving": positive, "max_cost": in_range(0, 1), "margin": in_range(-1, 1)}
    profiles: ClassVar[dict] = {"smoke": {"seeds": 2, "digit_steps": 5, "board_train": 200, "board_test": 100,
                                          "board_steps": 5},
                                "full": {"seeds": 5, "digit_steps": 1100, "board_train": 20000, "board_test": 2000,
                                         "board_steps": 5000, "board_channels": 64}}
    real_dataset: ClassVar[str | None] = "mnist"

    def validate(self) -> None:
        super().validate()
        check_image_dataset(self.dataset, IMAGE_DATASETS, why=DIGITS_TOO_SMALL)
        if self.board_size < 5:
            raise BadInput(f"--set board_size: a {self.board_size}×{self.board_size} board cannot hold five in a row; "
                           "use board_size >= 5")


def forward_flops(model: torch.nn.Module, x: torch.Tensor) -> int:
    """FLOPs of one forward pass of one example (torch.utils.flop_counter: 2 per multiply-add)."""
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model.eval()(x[:1])
    return int(counter.get_total_flops())


def digit_net(cfg: PoolingConfig, pool: bool, shape: tuple[int, int, int] = (1, 28, 28)) -> CNN:
    """Part 1's CNN for images of `shape` (C, H, W), H = W: two 3×3 conv blocks (2×2 max-pool after each when
    `pool`) and a linear read-out of the flattened last map."""
    return CNN(shape[0], 10, channels=cfg.digit_channels, kernels=3, pool=pool, head="flatten", input_size=shape[-1])


def board_net(cfg: PoolingConfig, pool: bool) -> CNN:
    c = cfg.board_channels
    return CNN(3, 1, channels=(c, c, c), kernels=(5, 3, 3), pool=pool, head="cells", input_size=cfg.board_size)


@experiment("pooling", section="cnn",
            claim="Pooling saves computation at little cost on images (at least {flop_saving:g}x fewer forward FLOPs, "
                  "less than {max_cost:.0%} lower test accuracy; digits by default) but hurts where every cell "
                  "matters: on a five-in-a-row board the same CNN without pooling finds the winning cell more often "
                  "by more than {margin:.0%}.",
            negative_control=NegativeControl(
                overrides=("pooled_arm_pools=false",),
                fails=("pooling cuts FLOPs", "no pooling wins the board task"),
                why="with pooling off in both arms the two arms are the same network"))
def pooling(run: Run, cfg: PoolingConfig) -> None:
    """Part 1, `dataset` (mnist5k by default): a CNN of two 3×3 conv blocks and a linear read-out, with a 2×2
    max-pool after each block or without (then conv 2 runs at full resolution, 28×28 or 32×32, and the read-out is
    16× larger); FLOPs by `FlopCounterMode`, seconds per
    epoch, test accuracy after the same number of steps. Part 2, the board task (`mllab.data.board`): the same CNN
    (5×5, 3×3, 3×3, padding 'same', per-cell 1×1 head) with and without 2×2 max-pooling after each block (pooled
    logits are repeated over the cells they pooled); top-1 accuracy with ties broken at random. Both arms use Adam at
    3e-3, chosen in exploratory runs on data seed 100 (not judged) for the pooled digit net and the unpooled board net;
    there is no per-arm grid in quick (a stated limitation). Judged seeds are derive_seed(seed, "judge", i)."""
    pool = cfg.pooled_arm_pools
    arms = {"pooled": pool, "unpooled": False}
    shape = image_shape(cfg.dataset)  # (C, H, W)
    probe = torch.zeros(1, *shape)
    flops = {arm: forward_flops(digit_net(cfg, p, shape), probe) for arm, p in arms.items()}
    board_probe = torch.zeros(1, 3, cfg.board_size, cfg.board_size)
    board_flops = {arm: forward_flops(board_net(cfg, p), board_probe) for arm, p in arms.items()}
    params = {arm: parameter_count(digit_net(cfg, p, shape)) for arm, p in arms.items()}
    run.metric("digit forward FLOPs per image", flops)
    run.metric("board forward FLOPs per position", board_flops)
    run.metric("digit parameters", params)
    saving = flops["unpooled"] / flops["pooled"]
    run.check("pooling cuts FLOPs", saving >= cfg.flop_saving,
              observed=f"forward FLOPs per image: pooled {flops['pooled']:,}, unpooled {flops['unpooled']:,} "
                       f"({saving:.2f}x)", expected=f">= {cfg.flop_saving:g}x fewer with pooling")

    digit_acc = {arm: [] for arm in arms}
    epoch_seconds = {arm: [] for arm in arms}
    board_acc = {arm: [] for arm in arms}
    curves = {}
    bar = run.progress(total=cfg.seeds * 4, desc="seeds × arms × parts")
    for seed in seeds(run.seed, cfg.seeds):
        data = load_images(seed=seed, name=cfg.dataset, data_dir=run.data_dir)
        for arm, p in arms.items():
            torch.manual_seed(seed)
            start = time.perf_counter()
            model = train_steps(digit_net(cfg, p, shape), data.train, steps=cfg.digit_steps, lr=cfg.digit_lr,
                                batch_size=cfg.batch_size, seed=seed)
            epochs = cfg.digit_steps * cfg.batch_size / len(data.train)
            epoch_seconds[arm].append((time.perf_counter() - start) / epochs)
            digit_acc[arm].append(accuracy(model, data.test))
            bar.update()
        task = make_board_task(cfg.board_train + cfg.board_test, cfg.board_size, seed=seed,
                               distractors=cfg.distractors)
        train = Split(task.x[:cfg.board_train], task.y[:cfg.board_train])
        test = Split(task.x[cfg.board_train:], task.y[cfg.board_train:])
        for arm, p in arms.items():
            torch.manual_seed(seed)
            model = train_steps(board_net(cfg, p), train, steps=cfg.board_steps, lr=cfg.board_lr,
                                batch_size=cfg.batch_size, seed=seed)
            with torch.no_grad():
                logits = model(test.x)  # (N, size²)
            board_acc[arm].append(top1_accuracy(logits, test.y))
            curves.setdefault(arm, (test, logits))
            bar.update()
        run.log_metrics(seed=seed, **{f"digit_accuracy_{a}": v[-1] for a, v in digit_acc.items()},
                        **{f"board_top1_{a}": v[-1] for a, v in board_acc.items()},
                        **{f"seconds_per_epoch_{a}": v[-1] for a, v in epoch_seconds.items()})
    bar.close()
    run.metric("digit seconds per epoch (mean)", {a: float(np.mean(v)) for a, v in epoch_seconds.items()})
    run.metric("digit test accuracy (mean)", {a: float(np.mean(v)) for a, v in digit_acc.items()})
    run.metric("board top-1 accuracy (mean)", {a: float(np.mean(v)) for a, v in board_acc.items()})
    run.compare("pooling costs little digit accuracy", digit_acc["pooled"], digit_acc["unpooled"],
                margin=-cfg.max_cost, better="higher", labels=("pooled", "unpooled"))
    run.compare("no pooling wins the board task", board_acc["unpooled"], board_acc["pooled"], margin=cfg.margin,
                better="higher", labels=("unpooled", "pooled"))
    _figures(run, cfg, flops, epoch_seconds, digit_acc, board_acc, curves)


def _figures(run, cfg, flops, epoch_seconds, digit_acc, board_acc, curves) -> None:
    fig, axes = figures.subplots(1, 3, panel=(3.8, 3.4))
    arms = list(flops)
    colors = [figures.HOLDS, figures.BASELINE]
    axes[0].bar(arms, [flops[a] / 1e6 for a in arms], color=colors)
    axes[0].set(title=f"{cfg.dataset} CNN: forward cost", xlabel="arm", ylabel="MFLOPs per image")
    axes[1].bar(arms, [np.mean(epoch_seconds[a]) for a in arms], color=colors,
                yerr=[np.std(epoch_seconds[a]) for a in arms], capsize=4)
    axes[1].set(title=f"{cfg.dataset} CNN: training time", xlabel="arm", ylabel="seconds per epoch (1 thread)")
    x = np.arange(2)
    for i, (name, values) in enumerate(((cfg.dataset, digit_acc), ("board: winning cell", board_acc))):
        means = [100 * np.mean(values[a]) for a in arms]
        axes[2].bar(x[i] + np.array([-0.2, 0.2]), means, 0.4, color=colors,
                    label=[f"{a}" for a in arms] if i == 0 else None)
        for j, a in enumerate(arms):
            axes[2].plot(np.full(len(values[a]), x[i] + (-0.2 if j == 0 else 0.2)), 100 * np.array(values[a]), "k.",
                         markersize=4)
    axes[2].set_xticks(x, [cfg.dataset, "board"])
    axes[2].set(title="accuracy (bars: mean, dots: seeds)", xlabel="task", ylabel="test accuracy (%)")
    figures.legend_outside(axes[2])
    run.figure("pooling_cost", fig)

    test, _ = curves["unpooled"]
    fig, axes = figures.subplots(1, 3, panel=(3.4, 3.4))
    size = cfg.board_size
    board = test.x[0]
    picture = board[0] - board[1]  # +1 mover, −1 opponent
    axes[0].imshow(picture.numpy(), cmap="bwr_r", vmin=-1.5, vmax=1.5)
    r, c = divmod(int(test.y[0]), size)
    axes[0].plot(c, r, "*", color=figures.HOLDS, markersize=14, label="answer")
    axes[0].set(title="position (blue: mover, red: opponent)", xlabel="column", ylabel="row")
    figures.legend_below(axes[0], ncol=1)
    for ax, arm in zip(axes[1:], ("unpooled", "pooled")):
        probs = torch.softmax(curves[arm][1][0], 0).view(size, size)
        image = ax.imshow(probs.numpy(), cmap="viridis")
        ax.plot(c, r, "*", color=figures.FAILS, markersize=10)
        ax.set(title=f"{arm}: p(cell)", xlabel="column", ylabel="row")
        fig.colorbar(image, ax=ax, label="probability")
    run.figure("board", fig)
