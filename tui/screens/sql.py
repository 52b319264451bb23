"""SQL: any query over the store (read-only), the result in a table, the schema beside."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Container, Vertical
from textual.message import Message
from textual.widgets import DataTable, Footer, Header, Static, TextArea, Tree

from tui import reads
from tui.screens.base import SparsestScreen

ROW_LIMIT = 1000
EXAMPLE = "SELECT algorithm, target, weight_nnz, frontier_weight_nnz, gap_ratio\nFROM leaderboard"


class QueryDone(Message):
    def __init__(
        self, columns: list[str], rows: list[tuple[Any, ...]], error: str | None, seconds: float
    ) -> None:
        super().__init__()
        self.columns, self.rows, self.error, self.seconds = columns, rows, error, seconds


def _cell(value: Any) -> Any:
    if value is None:
        return Text("NULL", style="dim")
    if isinstance(value, float):
        return Text(f"{value:.6g}", justify="right")
    if isinstance(value, int) and not isinstance(value, bool):
        return Text(str(value), justify="right")
    if isinstance(value, bytes):
        return Text(f"<{len(value)} bytes>", style="dim")
    text = str(value)
    return text if len(text) <= 60 else text[:59] + "…"


class SqlScreen(SparsestScreen):
    TITLE = "SQL"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+r", "run_query", "Run query", priority=True),
        Binding("ctrl+l", "clear_query", "Clear", priority=True),
    ]

    def compose(self) -> ComposeResult:
        yield Header()
        with Container(id="sql-body"):
            with Vertical(id="sql-main"):
                yield TextArea(EXAMPLE, id="sql-query", soft_wrap=True, show_line_numbers=False)
                yield Static("ctrl+r runs the query (read-only)", id="sql-status", markup=False)
                yield DataTable(id="sql-result", zebra_stripes=True)
            yield Tree("schema", id="sql-schema")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        super().on_mount()
        self._schema()
        self.query_one(TextArea).focus()

    @work(thread=True, group="schema", name="schema", exit_on_error=False)
    def _schema(self) -> None:
        from store.queries import schema_columns

        tables = schema_columns()
        self.app.call_from_thread(self._show_schema, tables)

    def _show_schema(self, tables: dict[str, list[tuple[str, str]]]) -> None:
        tree: Tree[str] = self.query_one(Tree)
        tree.root.expand()
        for table, columns in tables.items():
            node = tree.root.add(table, expand=table in ("runs", "leaderboard"))
            for column, kind in columns:
                node.add_leaf(Text.assemble(column, " ", (kind.lower(), "dim")))

    def action_clear_query(self) -> None:
        area = self.query_one(TextArea)
        area.clear()
        area.focus()

    def action_run_query(self) -> None:
        # Keys typed just before ctrl+r may still wait in the box's own queue (a fast
        # typist, a paste, tmux send-keys): read the text once the box has taken them.
        self.query_one(TextArea).call_later(self._run_typed_query)

    def _run_typed_query(self) -> None:
        query = self.query_one(TextArea).text.strip()
        if not query:
            self._status("type a query first", error=True)
            return
        self._status("running…")
        self._run(query)

    @work(thread=True, exclusive=True, group="sql", name="query", exit_on_error=False)
    def _run(self, query: str) -> None:
        import time

        from store.db import StoreError

        started = time.perf_counter()
        try:
            columns, rows = reads.sql(self.sparsest.store, query, ROW_LIMIT + 1)
        except StoreError as error:
            self.post_message(QueryDone([], [], str(error), time.perf_counter() - started))
            return
        self.post_message(QueryDone(columns, rows, None, time.perf_counter() - started))

    @on(QueryDone)
    def _done(self, message: QueryDone) -> None:
        if message.error is not None:
            self._status(f"error: {message.error}", error=True)
            return
        table: DataTable[Any] = self.query_one("#sql-result", DataTable)
        table.clear(columns=True)
        table.add_columns(*message.columns)
        for row in message.rows[:ROW_LIMIT]:
            table.add_row(*(_cell(v) for v in row))
        shown = min(len(message.rows), ROW_LIMIT)
        more = f" (first {ROW_LIMIT})" if len(message.rows) > ROW_LIMIT else ""
        self._status(f"{shown:,} rows{more}")

    def _status(self, text: str, error: bool = False) -> None:
        status = self.query_one("#sql-status", Static)
        status.update(text)
        status.set_class(error, "-error")
