"""One colour and line style per algorithm, the same in every figure; the frontier is
always the same black line."""

from __future__ import annotations

import zlib
from dataclasses import dataclass


@dataclass(frozen=True)
class LineStyle:
    """matplotlib keyword values for one curve."""

    color: str
    linestyle: str
    marker: str

    def kwargs(self) -> dict[str, str]:
        return {"color": self.color, "linestyle": self.linestyle, "marker": self.marker}


FRONTIER = LineStyle("black", "-", "")
"""The search's optimal frontier (drawn thicker than any algorithm)."""
FRONTIER_WIDTH = 2.6

_KNOWN: dict[str, LineStyle] = {
    "imp": LineStyle("#1f77b4", "-", "o"),
    "lth": LineStyle("#ff7f0e", "-", "s"),
    "snip": LineStyle("#2ca02c", "--", "^"),
    "iter-snip": LineStyle("#d62728", "--", "v"),
    "force": LineStyle("#9467bd", "-.", "D"),
    "grasp": LineStyle("#8c564b", "-.", "P"),
    "synflow": LineStyle("#e377c2", "-", "X"),
    "prospr": LineStyle("#7f7f7f", ":", "*"),
    "rigl": LineStyle("#bcbd22", "-", "h"),
    "random": LineStyle("#17becf", ":", "."),
    "magnitude-after": LineStyle("#aec7e8", "--", "d"),
    "wanda": LineStyle("#ffbb78", "-.", "o"),
    "lrr": LineStyle("#98df8a", "-", "s"),
    "ntk-sap": LineStyle("#ff9896", ":", "^"),
    "srigl": LineStyle("#dbdb8d", "--", "h"),
    "chita": LineStyle("#c5b0d5", "-.", "D"),
}
_SPARE_COLOURS = ("#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd")
_SPARE_LINES = ("-", "--", "-.", ":")
_SPARE_MARKERS = ("o", "s", "^", "v", "D")


def style(algorithm: str) -> LineStyle:
    """The algorithm's style: fixed for the shipped ones, else derived from its
    name (stable across runs and figures, never black)."""
    if algorithm in _KNOWN:
        return _KNOWN[algorithm]
    h = zlib.crc32(algorithm.encode())
    return LineStyle(
        _SPARE_COLOURS[h % len(_SPARE_COLOURS)],
        _SPARE_LINES[(h // 7) % len(_SPARE_LINES)],
        _SPARE_MARKERS[(h // 31) % len(_SPARE_MARKERS)],
    )


def algorithm_order(names: set[str] | list[str]) -> list[str]:
    """The shipped algorithms in their fixed order, then any others alphabetically."""
    known = [n for n in _KNOWN if n in names]
    return known + sorted(n for n in names if n not in _KNOWN)
