"""Inspector region: the model's decision over the input plane, with the data's points.

Each cell is two pixels ("▀": foreground above, background below). The background is
the model's prediction, tinted by its confidence (orange: class 0, blue: class 1, as
in TensorFlow Playground); pixels holding data points show the points' class in the
full colour, so misclassified stretches of the spiral stand out.
"""

from __future__ import annotations

import numpy as np
from rich.text import Text
from textual.widget import Widget

from harness.model_view import BoundaryPicture, ModelView, pixels


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
