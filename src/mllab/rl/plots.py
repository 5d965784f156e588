"""Figures of the rl section, in the `mllab.core.figures` style: greedy policies drawn as arrows on the
environment's map (FrozenLake, Taxi, CliffWalking), learning curves and DQN's training diagnostics.

Grid convention: row r, column c, row 0 at the top; an arrow (dx, dy) points right for dx > 0, down for dy > 0.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mllab.core import figures

FROZEN_LAKE_MOVES = {0: (-1, 0), 1: (0, 1), 2: (1, 0), 3: (0, -1)}  # left, down, right, up
CLIFF_MOVES = {0: (0, -1), 1: (1, 0), 2: (0, 1), 3: (-1, 0)}  # up, right, down, left
TAXI_MOVES = {0: (0, 1), 1: (0, -1), 2: (1, 0), 3: (-1, 0)}  # south, north, east, west
TAXI_LABELS = {4: "P", 5: "D"}  # pick up, drop off
TAXI_STOPS = "RGYB"  # env.unwrapped.locs, in order


def smooth(values, window: int) -> np.ndarray:
    """Moving mean over `window` items (shorter at the start), same length as `values`."""
    values = np.asarray(values, dtype=float)
    if values.size == 0:
        return values
    cumulative = np.cumsum(np.insert(values, 0, 0.0))
    index = np.arange(1, values.size + 1)
    start = np.maximum(index - window, 0)
    return (cumulative[index] - cumulative[start]) / (index - start)


def draw_policy(ax: Any, actions: np.ndarray, moves: dict[int, tuple[int, int]], *,
                background: np.ndarray | None = None, background_label: str = "", labels: dict[int, str] | None = None,
                marks: dict[tuple[int, int], str] | None = None, fig: Any = None, vmin: float | None = None) -> None:
    """Arrows for the greedy action of each cell; actions (rows, columns), −1 = no arrow (a terminal cell).

    background (rows, columns): a value per cell drawn as colour (with a colorbar labelled `background_label`);
    labels: text for actions that are not moves (Taxi's pick-up / drop-off); marks: letters on cells;
    vmin: clip the colour scale from below (the colorbar's arrow marks clipped cells)."""
    rows, columns = actions.shape
    if background is not None:
        clipped = vmin is not None and background.min() < vmin
        image = ax.imshow(np.maximum(background, vmin) if clipped else background, cmap="viridis",
                          interpolation="nearest")
        (fig or ax.figure).colorbar(image, ax=ax, label=background_label, shrink=0.85,
                                    extend="min" if clipped else "neither")
    else:
        ax.imshow(np.zeros((rows, columns)), cmap="Greys", vmin=0, vmax=1)
    for (r, c), action in np.ndenumerate(actions):
        if marks and (r, c) in marks:
            ax.text(c, r, marks[(r, c)], ha="center", va="center", color="white", fontweight="bold", fontsize=11,
                    bbox={"boxstyle": "round,pad=0.15", "facecolor": "black", "alpha": 0.55, "linewidth": 0})
        elif action in moves:
            dx, dy = moves[int(action)]
            ax.annotate("", xy=(c + 0.32 * dx, r + 0.32 * dy), xytext=(c - 0.32 * dx, r - 0.32 * dy),
                        arrowprops={"arrowstyle": "-|>", "color": "white", "lw": 1.6})
        elif labels and action in labels:
            ax.text(c, r, labels[int(action)], ha="center", va="center", color="black", fontsize=10,
                    fontweight="bold", bbox={"boxstyle": "round,pad=0.2", "facecolor": "white", "linewidth": 0})
    ax.set_xticks(range(columns))
    ax.set_yticks(range(rows))
    ax.grid(False)
    ax.set(xlabel="column", ylabel="row")


def frozen_lake_policy(ax: Any, desc: np.ndarray, policy: np.ndarray, values: np.ndarray, title: str) -> None:
    """FrozenLake: the greedy action of every frozen cell on V^π; H holes, G goal, S start."""
    rows, columns = desc.shape
    actions = policy.reshape(rows, columns).copy()
    marks = {(r, c): desc[r, c] for r in range(rows) for c in range(columns) if desc[r, c] in "HG"}
    draw_policy(ax, actions, FROZEN_LAKE_MOVES, background=values.reshape(rows, columns),
                background_label=r"$V^\pi(s)$", marks=marks)
    ax.set_title(title)


def taxi_policy(ax: Any, env: Any, policy: np.ndarray, values: np.ndarray, passenger: int, destination: int,
                title: str) -> None:
    """Taxi: the greedy action in each of the 25 taxi cells for one passenger location (0–3 a stop, 4 in the
    taxi) and destination; walls drawn from the map, stops lettered (* the destination), P pick up, D drop off.
    Colour: V^π of those 25 states, clipped at −20 (a policy that never delivers sits near −1/(1−γ)); a red ×
    marks cells from which the greedy policy never delivers."""
    unwrapped = env.unwrapped
    states = np.array([[unwrapped.encode(r, c, passenger, destination) for c in range(5)] for r in range(5)])
    draw_policy(ax, policy[states], TAXI_MOVES, background=values[states], background_label=r"$V^\pi(s)$",
                labels=TAXI_LABELS, vmin=-20.0)
    for (r, c), value in np.ndenumerate(values[states]):
        if value < -100:  # more than 100 steps of −1 without delivering: it loops
            ax.plot(c + 0.3, r + 0.3, "x", color=figures.FAILS, markersize=9, mew=2.5)
    desc = unwrapped.desc.astype(str)  # (7, 11): cell (r, c) at (r + 1, 2c + 1), walls '|' between
    for r in range(5):
        for c in range(4):
            if desc[r + 1, 2 * c + 2] == "|":
                ax.plot([c + 0.5, c + 0.5], [r - 0.5, r + 0.5], color="black", lw=3)
    for i, (r, c) in enumerate(unwrapped.locs):
        text = TAXI_STOPS[i] + ("*" if i == destination else "")
        ax.text(c - 0.45, r - 0.45, text, ha="left", va="top", color="white", fontsize=8, fontweight="bold",
                bbox={"boxstyle": "square,pad=0.1", "facecolor": "black", "alpha": 0.6, "linewidth": 0})
    ax.set_title(title)


def cliff_policy(ax: Any, q: np.ndarray, path: list[int], title: str, columns: int = 12) -> None:
    """CliffWalking: the greedy action of each cell on max_a Q(s, a), the greedy path from the start (orange)
    and the cliff (C). q (S, A)."""
    rows = q.shape[0] // columns
    actions = q.argmax(1).reshape(rows, columns)
    marks = {(rows - 1, c): "C" for c in range(1, columns - 1)} | {(rows - 1, columns - 1): "G"}
    draw_policy(ax, actions, CLIFF_MOVES, marks=marks, background=q.max(1).reshape(rows, columns),
                background_label=r"$\max_a Q(s, a)$")
    ys, xs = np.divmod(np.array(path), columns)
    ax.plot(xs, ys, "-", color=figures.SERIES[1], lw=2.5, alpha=0.8)
    ax.set_title(title)


def learning_curve(ax: Any, returns: list[np.ndarray], optimum: float, window: int, title: str,
                   optimum_label: str) -> None:
    """Mean over runs of the moving mean of training returns (band: the runs' range) beside the optimum.

    Returns far below the optimum (Taxi's first episodes lose hundreds) would flatten the region near it:
    the y-axis is then symlog, linear within ±10 of zero."""
    length = min(len(r) for r in returns)
    ax.axhline(optimum, color=figures.BASELINE, ls="--", label=optimum_label)
    ax.set(title=title, xlabel="training episode", ylabel=f"return (moving mean of {window})")
    if length == 0:  # no run finished an episode (a smoke-sized budget)
        figures.legend_below(ax, ncol=1)
        return
    curves = np.stack([smooth(r[:length], window) for r in returns])  # (runs, episodes)
    episodes = np.arange(1, length + 1)
    ax.fill_between(episodes, curves.min(0), curves.max(0), color=figures.SERIES[0], alpha=0.25, linewidth=0,
                    label=f"range over {len(returns)} runs")
    ax.plot(episodes, curves.mean(0), color=figures.SERIES[0], label="mean over runs")
    if curves.min() < -10 * max(abs(optimum), 1):
        ax.set_yscale("symlog", linthresh=10)
    figures.legend_below(ax, ncol=1)
