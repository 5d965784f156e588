"""Figures of the rl section: grid policies, Q-tables, CliffWalking curves and paths."""

from __future__ import annotations

import gymnasium as gym
import matplotlib.pyplot as plt
import numpy as np

ARROWS = {0: (-1, 0), 1: (0, 1), 2: (1, 0), 3: (0, -1)}  # FrozenLake: left, down, right, up as (dx, dy-down)
CLIFF_MOVES = {0: (0, -1), 1: (1, 0), 2: (0, 1), 3: (-1, 0)}  # CliffWalking: up, right, down, left


def smooth(values, window: int) -> np.ndarray:
    """Moving mean over `window` items (shorter at the start), same length as `values`."""
    values = np.asarray(values, dtype=float)
    if values.size == 0:
        return values
    cumulative = np.cumsum(np.insert(values, 0, 0.0))
    index = np.arange(1, values.size + 1)
    start = np.maximum(index - window, 0)
    return (cumulative[index] - cumulative[start]) / (index - start)


def plot_grid_policy(env: gym.Env, q: np.ndarray, title: str):
    """FrozenLake map: colour = max_a Q(s, a), arrow = greedy action, letters = holes (H) and goal (G)."""
    desc = env.unwrapped.desc.astype(str)  # (rows, columns)
    rows, columns = desc.shape
    fig, ax = plt.subplots(figsize=(0.6 * columns + 1.5, 0.6 * rows + 0.6))
    image = ax.imshow(q.max(1).reshape(rows, columns), cmap="viridis")
    fig.colorbar(image, ax=ax, label="max_a Q(s, a)")
    for s, action in enumerate(q.argmax(1)):
        r, c = divmod(s, columns)
        if desc[r, c] in "HG":
            ax.text(c, r, desc[r, c], ha="center", va="center", color="white", fontweight="bold")
        else:
            dx, dy = ARROWS[int(action)]
            ax.arrow(c - 0.25 * dx, r - 0.25 * dy, 0.3 * dx, 0.3 * dy, head_width=0.15, color="white")
    ax.set(title=title, xticks=[], yticks=[])
    return fig


def plot_q_table(q: np.ndarray, title: str):
    """The table itself: states down, actions across."""
    fig, ax = plt.subplots(figsize=(4, 6))
    image = ax.imshow(q, aspect="auto", cmap="viridis", interpolation="nearest")
    fig.colorbar(image, ax=ax, label="Q(s, a)")
    ax.set(title=title, xlabel="action", ylabel="state")
    return fig


def plot_cliff(online: dict[str, np.ndarray], paths: dict[str, list[list[int]]], start: int, columns: int = 12):
    """Left: sum of rewards per episode (mean over runs, Figure 6.4's axes); right: run 0's greedy paths."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 3.8))
    for algorithm, returns in online.items():
        left.plot(smooth(returns.mean(0), 10), label=algorithm.upper() if algorithm == "sarsa" else "Q-learning")
    left.set(title=f"CliffWalking, ε = 0.1 ({len(next(iter(online.values())))} runs averaged)", xlabel="episode",
             ylabel="sum of rewards during episode", ylim=(-100, 0))
    left.legend()
    rows = (start // columns) + 1
    grid = np.zeros((rows, columns))
    grid[-1, 1:-1] = 1  # the cliff
    right.imshow(grid, cmap="Greys", vmin=0, vmax=2)
    for offset, (algorithm, runs) in zip((-0.12, 0.12), paths.items()):
        ys, xs = np.divmod(np.array(runs[0]), columns)
        right.plot(xs, ys + offset, "o-", markersize=3, label=f"{algorithm} (greedy, run 0)")
    right.set(title="greedy paths (grey: the cliff)", xticks=[], yticks=[])
    right.legend(fontsize=8, loc="upper right")
    return fig
