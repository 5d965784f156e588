"""The package's one figure style, and the check `run.figure` applies to every figure it saves.

Style: constrained layout, a title on every panel, axes labelled with units, legends outside the data
(`legend_outside`), mathtext for symbols (`r"$\\alpha$"`), and one colour meaning everywhere:
`HOLDS` (green) for the arm or value the claim is about when it holds, `FAILS` (red) when it fails,
`BASELINE` (grey) for the reference arm, thresholds and targets. Other series use `SERIES`.

    from mllab.core import figures
    fig, axes = figures.subplots(1, 2)
    axes[0].plot(x, y, color=figures.SERIES[0], label="SGD"); figures.legend_outside(axes[0])
    axes[0].set(title="loss per step", xlabel="step", ylabel="training loss (nats)")
"""

from __future__ import annotations

from typing import Any

import matplotlib as mpl
import matplotlib.pyplot as plt

HOLDS = "#2e7d32"
FAILS = "#c62828"
BASELINE = "#757575"
SERIES = ("#1f77b4", "#ff7f0e", "#9467bd", "#17becf", "#8c564b", "#e377c2", "#bcbd22", "#2ca02c", "#d62728")

STYLE: dict[str, Any] = {
    "figure.dpi": 100,
    "figure.constrained_layout.use": True,
    "figure.constrained_layout.h_pad": 0.08,
    "figure.constrained_layout.w_pad": 0.08,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.prop_cycle": mpl.cycler(color=list(SERIES)),
    "legend.fontsize": 9,
    "legend.frameon": False,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "lines.linewidth": 1.6,
    "image.cmap": "viridis",
}


def verdict_color(passed: bool | None) -> str:
    """HOLDS for a passing value, FAILS for a failing one, BASELINE for None (no verdict: a reference)."""
    return BASELINE if passed is None else HOLDS if passed else FAILS


def subplots(nrows: int = 1, ncols: int = 1, *, panel: tuple[float, float] = (4.6, 3.6), squeeze: bool = False,
             **kwargs: Any):
    """`plt.subplots` in the package style, each panel `panel` inches; axes is always a flat list unless
    `squeeze=True` (then as matplotlib returns it)."""
    with mpl.rc_context(STYLE):
        fig, axes = plt.subplots(nrows, ncols, figsize=kwargs.pop("figsize", (panel[0] * ncols, panel[1] * nrows)),
                                 squeeze=squeeze, layout="constrained", **kwargs)
    if squeeze:
        return fig, axes
    return fig, list(axes.flat)


def legend_outside(ax: Any, **kwargs: Any) -> Any:
    """A legend to the right of the data area, outside the axes."""
    return ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, **kwargs)


def legend_below(ax: Any, ncol: int = 3, **kwargs: Any) -> Any:
    """A legend under the axes (below the x label), for wide figures."""
    return ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=ncol, borderaxespad=0.0, **kwargs)


def _is_colorbar(ax: Any) -> bool:
    return hasattr(ax, "_colorbar") or getattr(ax, "get_label", lambda: "")() == "<colorbar>"


def _twins(ax: Any, axes: list[Any]) -> list[Any]:
    """Axes drawn on the same area as `ax` (twinx / twiny): one panel, not two."""
    return [o for o in axes if o is not ax and (o in ax.get_shared_x_axes().get_siblings(ax)
            or o in ax.get_shared_y_axes().get_siblings(ax)) and o.get_position().bounds == ax.get_position().bounds]


def _texts(ax: Any) -> list[Any]:
    """The visible, non-empty text artists an axes draws around its data area."""
    items = [ax.title, ax._left_title, ax._right_title, ax.xaxis.label, ax.yaxis.label]
    items += _drawn_ticklabels(ax.get_xticklabels(), ax.get_xlim(), 0)
    items += _drawn_ticklabels(ax.get_yticklabels(), ax.get_ylim(), 1)
    return [t for t in items if t.get_visible() and t.get_text().strip()]


def _drawn_ticklabels(labels: list[Any], limits: tuple[float, float], coordinate: int) -> list[Any]:
    """Tick labels inside the view limits: matplotlib lists ticks beyond them too but does not draw them."""
    low, high = sorted(limits)
    slack = 1e-9 * max(abs(low), abs(high), 1.0)
    return [t for t in labels if low - slack <= t.get_position()[coordinate] <= high + slack]


def figure_problems(fig: Any) -> list[str]:
    """What breaks the style: a panel without a title or axis labels, or text of one panel drawn over
    another panel's text or data area. Empty when the figure is fine."""
    problems: list[str] = []
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    axes = [ax for ax in fig.axes if ax.get_visible()]
    for i, ax in enumerate(axes):
        name = f"panel {i + 1}" + (f" ({ax.get_title()!r})" if ax.get_title() else "")
        if _is_colorbar(ax):
            if not (ax.get_ylabel() or ax.get_xlabel()):
                problems.append(f"colorbar of {name} has no label")
            continue
        twins = _twins(ax, axes)
        if twins and axes.index(twins[0]) < i:  # a twin: its host carries the title and x label
            if not (ax.get_ylabel() or ax.get_xlabel()):
                problems.append(f"twin axes of panel {axes.index(twins[0]) + 1} has no axis label")
            continue
        if not (ax.get_title() or ax._left_title.get_text() or ax._right_title.get_text()):
            problems.append(f"{name} has no title")
        if ax.axison:
            if ax.xaxis.get_visible() and not ax.get_xlabel() and ax.get_xticklabels() and any(
                    t.get_text() for t in ax.get_xticklabels()):
                problems.append(f"{name} has no x-axis label")
            if ax.yaxis.get_visible() and not ax.get_ylabel() and any(t.get_text() for t in ax.get_yticklabels()):
                problems.append(f"{name} has no y-axis label")
    boxes = [[t.get_window_extent(renderer) for t in _texts(ax)] for ax in axes]
    areas = [ax.get_window_extent(renderer) for ax in axes]
    for i, j in ((i, j) for i in range(len(axes)) for j in range(len(axes)) if i != j):
        if _is_colorbar(axes[i]) or _is_colorbar(axes[j]) or axes[j] in _twins(axes[i], axes):
            continue
        hit = next((b for b in boxes[i] if any(_overlap(b, c) for c in boxes[j]) or _overlap(b, areas[j])), None)
        if hit is not None:
            problems.append(f"text of panel {i + 1} ({axes[i].get_title()!r}) overlaps panel {j + 1} "
                            f"({axes[j].get_title()!r})")
    return sorted(set(problems))


def _overlap(a: Any, b: Any, tolerance: float = 1.0) -> bool:
    return (min(a.x1, b.x1) - max(a.x0, b.x0) > tolerance) and (min(a.y1, b.y1) - max(a.y0, b.y0) > tolerance)
