"""Leaderboard region: best accuracy against weight nnz per algorithm, with the frontier."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from textual_plotext import PlotextPlot

SEARCH = "search"
COLORS = ("cyan", "magenta", "green", "yellow", "blue", "red", "orange", "violet", "gray")


class AccuracyPlot(PlotextPlot):
    """Each algorithm's best accuracy at each weight nnz (lines), the search's Pareto
    front (the optimal frontier, white), and the accuracy targets (dotted lines)."""

    def show(
        self, curves: Mapping[str, Sequence[tuple[int, float]]], targets: Sequence[float]
    ) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title("best accuracy vs weight nnz")
        plt.xlabel("weight nnz")
        plotted = [name for name in curves if curves[name]]
        if not plotted:
            plt.title("no results yet")
            self.refresh()
            return
        lowest = min(acc for name in plotted for _, acc in curves[name])
        plt.ylim(max(0.0, min(lowest, min(targets, default=1.0)) - 0.02), 1.0)
        names = sorted(n for n in plotted if n != SEARCH)
        for index, name in enumerate(names):
            xs, ys = zip(*sorted(curves[name]))
            plt.plot(xs, ys, label=name, marker="braille", color=COLORS[index % len(COLORS)])
        if SEARCH in plotted:
            xs, ys = zip(*sorted(curves[SEARCH]))
            plt.plot(xs, ys, label="frontier (search)", marker="hd", color="white")
        for target in targets:
            plt.hline(target, "gray")
        self.refresh()
