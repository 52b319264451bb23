"""Builder region: a form field (label, control, and the reason it is wrong, in place)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widget import Widget
from textual.widgets import Input, Label, Static


class Field(Vertical):
    """One labelled control, the label beside it (or above it when `stacked`).
    `set_error(reason)` marks it invalid and shows why below; `set_error(reason,
    warning=True)` only warns; `set_error(None)` clears it."""

    DEFAULT_CSS = """
    Field { height: auto; }
    Field > .field--row { height: auto; }
    Field .field--label { width: 24; color: $text-muted; padding-right: 1; }
    Field.-stacked .field--label { width: 1fr; }
    Field > .field--error { color: $error; display: none; padding-left: 24; }
    Field.-stacked > .field--error { padding-left: 0; }
    Field.-invalid > .field--error { display: block; }
    Field.-warning > .field--error { display: block; color: $warning; }
    Field.-invalid Input { background: $error 25%; }
    """

    def __init__(self, label: str, *controls: Widget, field_id: str, stacked: bool = False) -> None:
        super().__init__(id=f"field-{field_id}", classes="-stacked" if stacked else "")
        self.field_id = field_id
        self._label = label
        self._controls = controls
        self._stacked = stacked
        self.reason: str | None = None
        self.warning = False

    def compose(self) -> ComposeResult:
        if self._stacked:
            yield Label(self._label, classes="field--label")
            yield from self._controls
        else:
            with Horizontal(classes="field--row"):
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
