"""The figure check: titles and axis labels on every panel, no panel's text over another panel."""

import matplotlib.pyplot as plt

from mllab.core import figures


def _good():
    fig, axes = figures.subplots(1, 2)
    for ax in axes:
        ax.plot([0, 1], [0, 1], label="line")
        ax.set(title="a panel", xlabel="step", ylabel="loss (nats)")
        figures.legend_outside(ax)
    return fig


def test_styled_figure_has_no_problems():
    fig = _good()
    assert figures.figure_problems(fig) == []
    plt.close(fig)


def test_missing_title_and_labels_are_reported():
    fig, axes = figures.subplots(1, 1)
    axes[0].plot([0, 1], [0, 1])
    problems = figures.figure_problems(fig)
    assert any("no title" in p for p in problems) and any("x-axis" in p for p in problems)
    assert any("y-axis" in p for p in problems)
    plt.close(fig)


def test_y_label_over_the_neighbouring_panel_is_reported():
    fig = plt.figure(figsize=(6, 3))  # no constrained layout: panels packed edge to edge
    left, right = fig.add_axes([0.1, 0.15, 0.38, 0.75]), fig.add_axes([0.5, 0.15, 0.45, 0.75])
    for ax in (left, right):
        ax.plot([0, 1], [0, 1e6])
        ax.set(title="t", xlabel="x (units)", ylabel="a long y label (units)")
    problems = figures.figure_problems(fig)
    assert any("overlaps" in p for p in problems), problems
    plt.close(fig)


def test_image_panel_without_axes_needs_only_a_title():
    fig, axes = figures.subplots(1, 1)
    axes[0].imshow([[0, 1], [1, 0]])
    axes[0].axis("off")
    axes[0].set_title("an image")
    assert figures.figure_problems(fig) == []
    plt.close(fig)


def test_verdict_colours_have_one_meaning():
    assert figures.verdict_color(True) == figures.HOLDS
    assert figures.verdict_color(False) == figures.FAILS
    assert figures.verdict_color(None) == figures.BASELINE
    assert len({figures.HOLDS, figures.FAILS, figures.BASELINE}) == 3


def test_twin_axes_and_labelled_colorbars_are_one_panel():
    fig, axes = figures.subplots(1, 2)
    image = axes[0].imshow([[0, 1], [1, 0]])
    axes[0].set(title="map", xlabel="column", ylabel="row")
    fig.colorbar(image, ax=axes[0]).set_label("value (a.u.)")
    axes[1].plot([1, 2])
    axes[1].set(title="two scales", xlabel="step", ylabel="loss (nats)")
    twin = axes[1].twinx()
    twin.plot([2, 1])
    assert figures.figure_problems(fig) == ["twin axes of panel 2 has no axis label"]
    twin.set_ylabel("accuracy (%)")
    assert figures.figure_problems(fig) == []
    plt.close(fig)
