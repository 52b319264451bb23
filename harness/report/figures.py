"""The report's figures, drawn with matplotlib (Agg) and returned as PNG bytes. Every
algorithm keeps its colour and line style (style.py); the frontier is the black line."""

from __future__ import annotations

import io
import itertools
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from harness.report.style import FRONTIER, FRONTIER_WIDTH, algorithm_order, style

if TYPE_CHECKING:
    from harness.model_view import ModelView

Points = Sequence[tuple[float, float]]
STUDY_LINES = ("-", "--", ":", "-.")
"""The frontier's line style per init study (the first study is solid)."""


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def png(fig: Any) -> bytes:
    """The figure as PNG bytes (closed afterwards)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    _plt().close(fig)
    return buffer.getvalue()


def best_so_far(points: Points) -> tuple[list[float], list[float]]:
    """Best accuracy with at most N weights: the running maximum over ascending nnz."""
    ordered = sorted(points)
    return [x for x, _ in ordered], list(itertools.accumulate((y for _, y in ordered), max))


def _targets(ax: Any, targets: Sequence[float]) -> None:
    for target in targets:
        ax.axhline(target, color="grey", lw=0.6, ls="--", zorder=0)


def _plain_log(axis: Any, base: int = 10) -> None:
    """Log-scale tick labels as plain numbers (20, 50, 100), not powers."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    if base == 10:
        axis.set_minor_locator(LogLocator(subs=(2.0, 3.0, 5.0)))
        axis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    else:
        axis.set_minor_formatter(NullFormatter())


def _accuracy_axes(ax: Any, points: Sequence[float]) -> None:
    ax.set_xscale("log")
    _plain_log(ax.xaxis)
    ax.set_xlabel("weight nnz")
    ax.set_ylabel("best accuracy with at most N weights")
    low = min(points, default=0.5)
    ax.set_ylim(max(0.0, min(low, 0.9) - 0.02), 1.005)
    ax.grid(alpha=0.25, which="both")


def frontiers(curves: Mapping[str, Points], targets: Sequence[float], title: str) -> bytes:
    """Phase 2's Pareto curve (the search, phases 1 and 2) per init study, in black."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.2))
    ys: list[float] = []
    for (label, points), line in zip(curves.items(), itertools.cycle(STUDY_LINES)):
        xs, best = best_so_far(points)
        ys += best
        ax.step(xs, best, where="post", color=FRONTIER.color, ls=line, lw=FRONTIER_WIDTH,
                label=f"search, init {label}")  # fmt: skip
    _targets(ax, targets)
    _accuracy_axes(ax, ys)
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title(title, fontsize=10)
    return png(fig)


def pruning_against_frontier(
    frontier: Points, curves: Mapping[str, Points], targets: Sequence[float], title: str
) -> bytes:
    """Each algorithm's best accuracy at <= N weights beside the frontier (black)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.6))
    ys: list[float] = []
    for name in algorithm_order(list(curves)):
        xs, best = best_so_far(curves[name])
        ys += best
        s = style(name)
        ax.step(xs, best, where="post", color=s.color, ls=s.linestyle, lw=1.3, label=name)
        ax.plot(xs, best, ls="", marker=s.marker, color=s.color, ms=3.5)
    if frontier:
        xs, best = best_so_far(frontier)
        ys += best
        ax.step(xs, best, where="post", color=FRONTIER.color, lw=FRONTIER_WIDTH,
                label="frontier (search)", zorder=5)  # fmt: skip
    _targets(ax, targets)
    _accuracy_axes(ax, ys)
    ax.legend(fontsize=7, ncol=2, loc="lower right")
    ax.set_title(title, fontsize=10)
    return png(fig)


def gap_ratios(gaps: Mapping[float, Mapping[str, float | None]], title: str) -> bytes:
    """Gap ratio (nnz / frontier nnz) per algorithm, one marker per target; an algorithm
    that never reached a target has no marker there."""
    plt = _plt()
    names = algorithm_order({a for per in gaps.values() for a in per})
    fig, ax = plt.subplots(figsize=(7, 0.9 + 0.32 * max(len(names), 2)))
    markers = itertools.cycle(("o", "s", "^", "D"))
    step = 0.5 / max(len(gaps), 1)
    for k, ((target, per), marker) in enumerate(zip(sorted(gaps.items()), markers)):
        for row, name in enumerate(names):
            gap = per.get(name)
            if gap is not None:
                ax.plot(
                    gap,
                    row + (k - (len(gaps) - 1) / 2) * step,
                    marker=marker,
                    color=style(name).color,
                    ls="",
                    ms=7,
                )
        ax.plot([], [], marker=marker, color="grey", ls="", label=f"target {target:.1%}")
    ax.axvline(1.0, color=FRONTIER.color, lw=FRONTIER_WIDTH)
    ax.set_xlim(left=0)
    ax.set_yticks(range(len(names)), names)
    ax.invert_yaxis()
    ax.set_xlabel("gap ratio: fewest weights reaching the target / the frontier's")
    ax.grid(alpha=0.25, axis="x")
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title(title, fontsize=10)
    return png(fig)


def gap_against_width(
    widths: Sequence[int], panels: Mapping[float, Mapping[str, Points]], title: str
) -> bytes:
    """Gap ratio against starting width, one panel per target, one line per algorithm."""
    plt = _plt()
    fig, axes = plt.subplots(len(panels), 1, figsize=(7, 3.4 * len(panels)), squeeze=False)
    for ax, (target, curves) in zip(axes[:, 0], sorted(panels.items())):
        for name in algorithm_order(list(curves)):
            points = sorted(curves[name])
            if points:
                s = style(name)
                ax.plot(*zip(*points), label=name, lw=1.3, ms=4, **s.kwargs())
        ax.axhline(1.0, color=FRONTIER.color, lw=FRONTIER_WIDTH)
        ax.set_xscale("log", base=2)
        ax.set_xticks(list(widths))
        _plain_log(ax.xaxis, base=2)
        ax.set_ylim(bottom=0)
        ax.set_xlabel("starting width (every hidden layer)")
        ax.set_ylabel("gap ratio")
        ax.set_title(f"target {target:.1%}", fontsize=9)
        ax.grid(alpha=0.25, which="both")
        if not any(curves.values()):
            ax.text(0.5, 0.5, "no algorithm reached this target", ha="center",
                    transform=ax.transAxes)  # fmt: skip
        else:
            ax.legend(fontsize=7, ncol=3, loc="best")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return png(fig)


def disconnection(
    labels: Sequence[str],
    shares: Mapping[str, Sequence[float | None]],
    dead: Mapping[str, Sequence[float | None]],
    title: str,
) -> bytes:
    """Per algorithm and starting width: share of kept weights on no input-output path
    (top) and mean dead hidden neurons per network (bottom)."""
    plt = _plt()
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 6.4), sharex=True)
    xs = np.arange(len(labels))
    for name in algorithm_order(list(shares)):
        s = style(name)
        for ax, values in ((top, shares[name]), (bottom, dead[name])):
            ys = np.array([np.nan if v is None else v for v in values], dtype=float)
            ax.plot(xs, ys, label=name, lw=1.3, ms=4, **s.kwargs())
    top.set_ylabel("disconnected share of kept weights")
    top.set_ylim(0, 1)
    bottom.set_ylim(bottom=0)
    top.yaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:.0%}"))
    bottom.set_ylabel("dead hidden neurons (mean)")
    bottom.set_xticks(xs, labels)
    bottom.set_xlabel("starting widths")
    for ax in (top, bottom):
        ax.grid(alpha=0.25)
    top.legend(fontsize=7, ncol=3)
    top.set_title(title, fontsize=10)
    fig.tight_layout()
    return png(fig)


def fixed_against_random(
    gaps: Mapping[str, Mapping[str, float | None]], studies: Sequence[str], title: str
) -> bytes:
    """Gap ratio per algorithm (rows) for each init study (bars): hatched for fixed
    init, plain for random."""
    plt = _plt()
    names = algorithm_order(list(gaps))
    fig, ax = plt.subplots(figsize=(7, 1.0 + 0.45 * max(len(names), 2)))
    height = 0.8 / max(len(studies), 1)
    for k, study in enumerate(studies):
        for row, name in enumerate(names):
            gap = gaps[name].get(study)
            if gap is not None:
                ax.barh(row + (k - (len(studies) - 1) / 2) * height, gap, height=height * 0.9,
                        color=style(name).color, hatch="//" if study.startswith("fixed") else "",
                        edgecolor="black", lw=0.4)  # fmt: skip
        ax.barh([], [], color="white", edgecolor="black",
                hatch="//" if study.startswith("fixed") else "", label=f"init {study}")  # fmt: skip
    ax.axvline(1.0, color=FRONTIER.color, lw=FRONTIER_WIDTH)
    ax.set_yticks(range(len(names)), names)
    ax.invert_yaxis()
    ax.set_xlabel("gap ratio (to its own study's frontier)")
    ax.grid(alpha=0.25, axis="x")
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title(title, fontsize=10)
    return png(fig)


def success_rates(rows: Sequence[tuple[str, str, float, float, float]], title: str) -> bytes:
    """(label, algorithm or 'search', rate, low, high) as dots with 95% Wilson bars."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 0.9 + 0.3 * max(len(rows), 2)))
    for row, (_, curve, rate, low, high) in enumerate(rows):
        colour = FRONTIER.color if curve == "search" else style(curve).color
        marker = "o" if curve == "search" else style(curve).marker
        ax.errorbar(rate, row, xerr=[[rate - low], [high - rate]], fmt=marker, color=colour,
                    capsize=3, ms=5)  # fmt: skip
    ax.set_yticks(range(len(rows)), [label for label, *_ in rows], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlim(-0.03, 1.03)
    ax.set_xlabel("success rate over seeds (95% Wilson interval)")
    ax.grid(alpha=0.25, axis="x")
    ax.set_title(title, fontsize=10)
    return png(fig)


EFFECTIVE, DISCONNECTED = "#2ca02c", "#d62728"


def network(view: ModelView, boundary: np.ndarray | None, title: str) -> bytes:
    """The network as `sparsest show` sees it: neurons in columns, effective weights
    green, disconnected (kept, on no input-output path) red dashed, dead neurons hollow;
    beside it the decision boundary (`sparsest show --png`'s picture), if weights exist."""
    plt = _plt()
    panels = 2 if boundary is not None else 1
    fig, axes = plt.subplots(1, panels, figsize=(3.6 * panels, 3.6), squeeze=False)
    ax = axes[0, 0]
    sizes = view.layer_sizes
    tallest = max(sizes)

    def position(layer: int, i: int) -> tuple[float, float]:
        return float(layer), (i - (sizes[layer] - 1) / 2) * (1.0 if tallest < 12 else 12 / tallest)

    for layer, (mask, effective) in enumerate(zip(view.masks, view.effective)):
        out, inp = mask.shape
        for r in range(out):
            for c in range(inp):
                if mask[r, c]:
                    (x0, y0), (x1, y1) = position(layer, c), position(layer + 1, r)
                    live = bool(effective[r, c])
                    colour, line = (EFFECTIVE, "-") if live else (DISCONNECTED, "--")
                    ax.plot([x0, x1], [y0, y1], color=colour, ls=line, lw=1.1, zorder=1)
    for layer, size in enumerate(sizes):
        dead = view.dead[layer - 1] if 0 < layer < len(sizes) - 1 else np.zeros(size, bool)
        for i in range(size):
            x, y = position(layer, i)
            ax.scatter(x, y, s=46, zorder=2, edgecolors="black", linewidths=0.7,
                       c="white" if dead[i] else "#555555")  # fmt: skip
    ax.set_xticks(range(len(sizes)), ["in", *(f"h{k}" for k in range(1, len(sizes) - 1)), "out"])
    ax.set_yticks([])
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    ax.set_title(f"{view.effective_nnz} effective, {view.disconnected} disconnected", fontsize=8)
    if boundary is not None:
        axes[0, 1].imshow(boundary)
        axes[0, 1].set_axis_off()
        axes[0, 1].set_title("decision boundary", fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return png(fig)
