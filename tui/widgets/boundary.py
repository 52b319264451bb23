"""Inspector region: the model's decision over the input plane, with the data's points.

Each cell is two pixels ("▀": foreground above, background below). The background is
the model's prediction, tinted by its confidence (orange: class 0, blue: class 1, as
in TensorFlow Playground); pixels holding data points show the points' class in the
full colour, so misclassified stretches of the spiral stand out.
"""

from __future__ import annotations

import numpy as np
from rich.color import Color
from rich.console import Console, ConsoleOptions, RenderResult
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.widget import Widget

from tui.modelview import ModelView

CLASS_RGB = (np.array([245, 147, 34]), np.array([8, 119, 189]))
PALE = np.array([232, 232, 232])


def _plane(x: np.ndarray, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates (width x height pixels) covering the points plus 5%."""
    low, high = x.min(axis=0), x.max(axis=0)
    pad = (high - low) * 0.05
    low, high = low - pad, high + pad
    xs = low[0] + (np.arange(width) + 0.5) * (high[0] - low[0]) / width
    ys = high[1] - (np.arange(height) + 0.5) * (high[1] - low[1]) / height
    return xs, ys


def pixels(
    view: ModelView | None, x: np.ndarray, y: np.ndarray, width: int, height: int
) -> np.ndarray:
    """RGB [height, width, 3] (uint8): prediction background, data points on top."""
    xs, ys = _plane(x, width, height)
    image = np.tile(PALE, (height, width, 1)).astype(float)
    if view is not None:
        grid = np.stack(np.meshgrid(xs, ys), axis=-1).reshape(-1, 2)
        logits = view.logits(grid)
        if logits is not None:
            p = 1.0 / (1.0 + np.exp(-np.clip(logits, -30, 30))).reshape(height, width)
            confidence = np.abs(p - 0.5)[..., None] * 2 * 0.6
            colour = np.where((p >= 0.5)[..., None], CLASS_RGB[1], CLASS_RGB[0])
            image = PALE * (1 - confidence) + colour * confidence
    col = np.clip(((x[:, 0] - xs[0]) / (xs[1] - xs[0]) + 0.5).astype(int), 0, width - 1)
    row = np.clip(((ys[0] - x[:, 1]) / (ys[0] - ys[1]) + 0.5).astype(int), 0, height - 1)
    counts = np.zeros((2, height, width))
    np.add.at(counts, (y.astype(int), row, col), 1)
    has = counts.sum(axis=0) > 0
    majority = counts[1] > counts[0]
    image[has & ~majority] = CLASS_RGB[0] * 0.8
    image[has & majority] = CLASS_RGB[1] * 0.8
    return image.astype(np.uint8)


class BoundaryPicture:
    def __init__(self, image: np.ndarray, caption: str) -> None:
        self.image, self.caption = image, caption

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        height, width, _ = self.image.shape
        styles: dict[tuple[int, ...], Style] = {}
        for row in range(0, height - 1, 2):
            for col in range(width):
                key = (*self.image[row, col], *self.image[row + 1, col])
                style = styles.get(key)
                if style is None:
                    style = styles[key] = Style(
                        color=Color.from_rgb(*key[:3]), bgcolor=Color.from_rgb(*key[3:])
                    )
                yield Segment("▀", style)
            yield Segment.line()
        caption = Text(self.caption, style="dim")
        caption.truncate(width)
        yield caption


class DecisionBoundary(Widget):
    """The inspected model's prediction over the input plane, with the dataset's points."""

    DEFAULT_CSS = "DecisionBoundary { height: 1fr; width: 1fr; }"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.view: ModelView | None = None
        self.points: tuple[np.ndarray, np.ndarray] | None = None

    def show(self, view: ModelView | None, points: tuple[np.ndarray, np.ndarray] | None) -> None:
        self.view, self.points = view, points
        self.refresh()

    def render(self) -> BoundaryPicture | Text:
        if self.points is None:
            return Text("no model selected", style="dim")
        width, height = self.content_size.width, max(self.content_size.height - 1, 1)
        image = pixels(self.view, *self.points, max(width, 2), 2 * height)
        if self.view is not None and self.view.weights is None:
            caption = "weights not stored (widths over 16): points only"
        else:
            caption = "model: orange = class 0, blue = class 1; points in full colour"
        return BoundaryPicture(image, caption)
