"""The builder form's fields: a label, the control, and the reason it is wrong (in place)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widget import Widget
from textual.widgets import Input, Label, Static


class Field(Vertical):
    """One labelled control. `set_error(reason)` marks it invalid and shows why;
    `set_error(reason, warning=True)` only warns; `set_error(None)` clears it."""

    DEFAULT_CSS = """
    Field { height: auto; margin: 0 0 1 0; }
    Field > .field--label { color: $text-muted; }
    Field > .field--error { color: $error; display: none; }
    Field.-invalid > .field--error { display: block; }
    Field.-warning > .field--error { display: block; color: $warning; }
    Field.-invalid Input { border: tall $error; }
    """

    def __init__(self, label: str, *controls: Widget, field_id: str) -> None:
        super().__init__(id=f"field-{field_id}")
        self.field_id = field_id
        self._label = label
        self._controls = controls
        self.reason: str | None = None
        self.warning = False

    def compose(self) -> ComposeResult:
        yield Label(self._label, classes="field--label")
        yield from self._controls
        yield Static("", classes="field--error", markup=False)

    def set_error(self, reason: str | None, warning: bool = False) -> None:
        self.reason, self.warning = reason, warning
        self.set_class(reason is not None and not warning, "-invalid")
        self.set_class(reason is not None and warning, "-warning")
        self.query_one(".field--error", Static).update(reason or "")
        for control in self.query(Input):
            control.set_class(reason is not None and not warning, "-invalid")
