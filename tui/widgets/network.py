"""Inspector region: the network as layers of neurons joined by its kept weights.

Weights are braille lines (2 x 4 dots a cell); a cell takes the colour of the most
telling line through it (an effective weight over a disconnected one). Effective
weights are blue when positive and orange when negative (as in TensorFlow
Playground), grey without stored values; disconnected weights are red; dead neurons
are red crosses.
"""

from __future__ import annotations

import numpy as np
from rich.console import Console, ConsoleOptions, RenderResult
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.widget import Widget

from harness.model_view import ModelView

POSITIVE, NEGATIVE, PLAIN, DISCONNECTED = "#3b9ae1", "#f59322", "#a0a0a0", "#d04040"
_BITS = ((0x01, 0x08), (0x02, 0x10), (0x04, 0x20), (0x40, 0x80))


class _Canvas:
    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.bits = np.zeros((height, width), dtype=np.int32)
        self.rank = np.zeros((height, width), dtype=np.int8)
        self.color = np.full((height, width), "", dtype=object)
        self.glyphs: dict[tuple[int, int], tuple[str, str]] = {}

    def line(self, a: tuple[float, float], b: tuple[float, float], color: str, rank: int) -> None:
        (x0, y0), (x1, y1) = a, b
        steps = int(max(abs(x1 - x0), abs(y1 - y0))) + 1
        for t in np.linspace(0.0, 1.0, steps + 1):
            x, y = round(float(x0 + (x1 - x0) * t)), round(float(y0 + (y1 - y0) * t))
            col, row = x // 2, y // 4
            if 0 <= col < self.width and 0 <= row < self.height:
                self.bits[row, col] |= _BITS[y % 4][x % 2]
                if rank >= self.rank[row, col]:
                    self.rank[row, col], self.color[row, col] = rank, color

    def glyph(self, col: int, row: int, char: str, color: str) -> None:
        if 0 <= col < self.width and 0 <= row < self.height:
            self.glyphs[(col, row)] = (char, color)

    def segments(self) -> RenderResult:
        for row in range(self.height):
            for col in range(self.width):
                if (col, row) in self.glyphs:
                    char, color = self.glyphs[(col, row)]
                    yield Segment(char, Style(color=color, bold=True))
                elif self.bits[row, col]:
                    yield Segment(
                        chr(0x2800 + int(self.bits[row, col])), Style(color=self.color[row, col])
                    )
                else:
                    yield Segment(" ")
            yield Segment.line()


def shown_neurons(view: ModelView, layer: int, room: int) -> tuple[list[int], int]:
    """The neurons of `layer` to draw (at most `room`): all of a narrow layer, else those
    with a kept weight; and how many are left out."""
    size = view.layer_sizes[layer]
    if size <= room:
        return list(range(size)), 0
    used = np.zeros(size, dtype=bool)
    if layer > 0:
        used |= view.masks[layer - 1].any(axis=1)
    if layer < len(view.masks):
        used |= view.masks[layer].any(axis=0)
    chosen = [int(i) for i in np.flatnonzero(used)][:room]
    return chosen, size - len(chosen)


class NetworkPicture:
    """A rich renderable of `view` at `width` x `height` cells (the last row: a legend)."""

    def __init__(self, view: ModelView, width: int, height: int) -> None:
        self.view, self.width, self.height = view, max(width, 10), max(height, 4)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        view = self.view
        rows = self.height - 1
        canvas = _Canvas(self.width, rows)
        layers = len(view.layer_sizes)
        columns = [round(1 + i * (self.width - 3) / (layers - 1)) for i in range(layers)]
        places: list[dict[int, int]] = []
        hidden_out: list[int] = []
        for layer in range(layers):
            room = rows - 1 if 0 < layer < layers - 1 else rows
            chosen, left_out = shown_neurons(view, layer, max(room, 1))
            hidden_out.append(left_out)
            span = rows - (1 if left_out else 0)
            places.append({n: int((k + 0.5) * span / len(chosen)) for k, n in enumerate(chosen)})
        for layer, mask in enumerate(view.masks):
            for out, inp in zip(*np.nonzero(mask)):
                if inp not in places[layer] or out not in places[layer + 1]:
                    continue
                a = (columns[layer] * 2 + 1, places[layer][inp] * 4 + 2)
                b = (columns[layer + 1] * 2 + 1, places[layer + 1][out] * 4 + 2)
                if view.effective[layer][out, inp]:
                    color = PLAIN
                    if view.weights is not None:
                        color = POSITIVE if view.weights[layer][out, inp] >= 0 else NEGATIVE
                    canvas.line(a, b, color, 2)
                else:
                    canvas.line(a, b, DISCONNECTED, 1)
        for layer in range(layers):
            for neuron, row in places[layer].items():
                if layer == 0:
                    canvas.glyph(columns[layer], row, "◆", "cyan")
                elif layer == layers - 1:
                    canvas.glyph(columns[layer], row, "◆", "magenta")
                elif view.dead[layer - 1][neuron]:
                    canvas.glyph(columns[layer], row, "✕", DISCONNECTED)
                else:
                    canvas.glyph(columns[layer], row, "●", "white")
            if hidden_out[layer]:
                label = f"+{hidden_out[layer]}"
                for k, char in enumerate(label):
                    canvas.glyph(columns[layer] - len(label) // 2 + k, rows - 1, char, "grey50")
        yield from canvas.segments()
        legend = Text.assemble(
            ("● live ", "white"), ("✕ dead ", DISCONNECTED), ("━ +w ", POSITIVE),
            ("━ −w ", NEGATIVE), ("━ disconnected", DISCONNECTED),
        )  # fmt: skip
        legend.truncate(self.width)
        yield legend


class NetworkDiagram(Widget):
    """The inspected model's network, redrawn to fit the widget's size."""

    DEFAULT_CSS = "NetworkDiagram { height: 1fr; width: 1fr; }"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.view: ModelView | None = None

    def show(self, view: ModelView | None) -> None:
        self.view = view
        self.refresh()

    def render(self) -> NetworkPicture | Text:
        if self.view is None:
            return Text("no model selected", style="dim")
        return NetworkPicture(self.view, self.content_size.width, self.content_size.height)
