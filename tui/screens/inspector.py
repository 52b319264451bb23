"""Model inspector: one stored run drawn as its network and its decision boundary over the
input plane (TensorFlow Playground style), with its hyper-parameters and metrics."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Container, Horizontal
from textual.message import Message
from textual.widgets import Footer, Header, Input, Static

from harness import model_view as modelview
from tui import reads
from tui.screens.base import SparsestScreen
from tui.widgets.boundary import DecisionBoundary
from tui.widgets.fields import Field
from tui.widgets.network import NetworkDiagram


class RunLoaded(Message):
    def __init__(
        self, run_key: str, view: modelview.ModelView | None, points: object, error: str | None
    ) -> None:
        super().__init__()
        self.run_key, self.view, self.points, self.error = run_key, view, points, error


def details_table(pairs: list[tuple[str, str]], columns: int) -> Table:
    table = Table.grid(padding=(0, 1))
    for _ in range(columns):
        table.add_column(style="dim", no_wrap=True)
        table.add_column(no_wrap=True)
    per_column = -(-len(pairs) // columns)
    for row in range(per_column):
        cells: list[str] = []
        for column in range(columns):
            index = column * per_column + row
            cells += list(pairs[index]) if index < len(pairs) else ["", ""]
        table.add_row(*cells)
    return table


class InspectorScreen(SparsestScreen):
    TITLE = "Model inspector"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("slash", "focus_key", "Run key")]

    def __init__(self) -> None:
        super().__init__()
        self.view: modelview.ModelView | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Field(
            "run key",
            Input(
                placeholder="a run key or a unique prefix, then enter (or enter on a board row)",
                id="run-key",
                compact=True,
            ),
            field_id="run-key",
        )
        with Container(id="inspect-body"):
            with Horizontal(id="inspect-pictures"):
                yield NetworkDiagram(id="network")
                yield DecisionBoundary(id="boundary")
            yield Static("", id="inspect-details")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#run-key", Input).focus()

    def action_focus_key(self) -> None:
        self.query_one("#run-key", Input).focus()

    @on(Input.Submitted, "#run-key")
    def _submitted(self, event: Input.Submitted) -> None:
        self.show_run(event.value)

    def show_run(self, run_key: str) -> None:
        """Load `run_key` (or a unique prefix) from the store and draw it."""
        key_input = self.query_one("#run-key", Input)
        if key_input.value != run_key:
            with key_input.prevent(Input.Changed):
                key_input.value = run_key
        if not run_key.strip():
            self.query_one(Field).set_error("type a run key")
            return
        self._load(run_key.strip())

    @work(thread=True, exclusive=True, group="inspect", name="inspector", exit_on_error=False)
    def _load(self, run_key: str) -> None:
        from store.db import StoreError

        try:
            stored = reads.stored_run(self.sparsest.store, run_key)
        except StoreError as error:
            self.post_message(RunLoaded(run_key, None, None, str(error)))
            return
        if stored is None:
            self.post_message(RunLoaded(run_key, None, None, f"no run with key {run_key!r}"))
            return
        try:
            view = modelview.model_view(stored)
        except modelview.CorruptRun as error:
            self.post_message(RunLoaded(run_key, None, None, str(error)))
            return
        points = modelview.dataset_points(view.record.dataset)
        self.post_message(RunLoaded(run_key, view, points, None))

    @on(RunLoaded)
    def _loaded(self, message: RunLoaded) -> None:
        field = self.query_one(Field)
        field.set_error(message.error)
        if message.error is not None:
            return
        self.view = view = message.view
        assert view is not None
        self.query_one(NetworkDiagram).show(view)
        self.query_one(DecisionBoundary).show(view, message.points)  # type: ignore[arg-type]
        columns = 3 if self.size.width >= 110 else 2
        self.query_one("#inspect-details", Static).update(
            details_table(modelview.details(view), columns)
        )
        self.sub_title = f"{view.record.algorithm} · {view.record.run_key}"
