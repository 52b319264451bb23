"""Leaderboard: per algorithm and target, the fewest weights reaching it and the gap to
the optimal frontier; beside it, accuracy against weight nnz. Refreshes as results land."""

from __future__ import annotations

import math
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Container, Horizontal
from textual.message import Message
from textual.widgets import DataTable, Footer, Header, Select, Static

from store.queries import LeaderboardRow
from tui import reads
from tui.messages import OpenRun
from tui.screens.base import SparsestScreen
from tui.widgets.accuracy_plot import AccuracyPlot
from tui.workers import StoreVersion

COLUMNS: tuple[tuple[str, str], ...] = (
    ("algorithm", "algorithm"),
    ("target", "target"),
    ("weight_nnz", "weight_nnz"),
    ("frontier_weight_nnz", "frontier"),
    ("gap_ratio", "gap_ratio"),
    ("effective_nnz", "effective_nnz"),
    ("best_accuracy", "best_accuracy"),
    ("reached", "reached"),
)
"""(LeaderboardRow field, header): headers are the view's column names, shortened only
where the table would not fit."""


def _row_key(row: LeaderboardRow) -> str:
    return f"{row.dataset}|{row.init}|{row.algorithm}|{row.target}"


def _cell(row: LeaderboardRow, name: str) -> Text | str:
    value = getattr(row, name)
    if name == "algorithm" and row.init != "random":  # another study than the default
        return Text.assemble(value, (f" · {row.init}", "dim"))
    if name == "reached":
        return Text(f"{row.reached}/{row.runs}", justify="right")
    if value is None:
        return Text("—", style="dim", justify="right")
    if name == "target":
        return f"{value:.1%}"
    if name == "best_accuracy":
        return Text(f"{value:.2%}", justify="right")
    if name == "gap_ratio":
        if value < 1.0:  # sparser than the search's best: the search was not exhaustive there
            return Text(f"{value:.2f}×*", style="magenta", justify="right")
        style = "bold green" if value == 1.0 else "yellow" if value < 1.5 else "red"
        return Text(f"{value:.2f}×", style=style, justify="right")
    if isinstance(value, int):
        return Text(f"{value:,}", justify="right")
    return str(value)


def _sort_key(name: str) -> Any:
    def key(row: LeaderboardRow) -> tuple[bool, Any]:
        value = row.reached / max(row.runs, 1) if name == "reached" else getattr(row, name)
        missing = value is None or (isinstance(value, float) and math.isnan(value))
        return (missing, value if not missing else 0)

    return key


class BoardLoaded(Message):
    def __init__(self, data: reads.BoardData) -> None:
        super().__init__()
        self.data = data


class LeaderboardScreen(SparsestScreen):
    TITLE = "Leaderboard"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("s", "sort_next", "Sort"),
        Binding("r", "reverse", "Reverse"),
        Binding("p", "toggle_plot", "Plot"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[LeaderboardRow] = []
        self.sort_column = "weight_nnz"
        self.sort_reverse = False
        self.filters = reads.BoardFilters()

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="board-filters"):
            yield Select[float]([], prompt="all targets", id="filter-target", compact=True)
            yield Select[int]([], prompt="all widths", id="filter-width", compact=True)
            yield Select[str](
                [("random init", "random"), ("fixed init", "fixed")], prompt="all inits",
                id="filter-init", compact=True,
            )  # fmt: skip
            yield Select[str]([], prompt="all datasets", id="filter-dataset", compact=True)
        with Container(id="board-body"):
            table: DataTable[Any] = DataTable(
                id="board-table", cursor_type="row", zebra_stripes=True
            )
            yield table
            yield AccuracyPlot(id="board-plot")
        yield Static("", id="board-status", markup=False)
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        super().on_mount()
        self._fill_table()
        self.query_one(AccuracyPlot).show({}, [])
        self.query_one(DataTable).focus()

    # -- loading -------------------------------------------------------------------------

    def reload(self, version: StoreVersion | str) -> None:
        if isinstance(version, str):
            self.query_one("#board-status", Static).update(version)
            return
        self._load(self.filters)

    @work(thread=True, exclusive=True, group="board", name="leaderboard", exit_on_error=False)
    def _load(self, filters: reads.BoardFilters) -> None:
        self.post_message(BoardLoaded(reads.board(self.sparsest.store, filters)))

    @on(BoardLoaded)
    def _show(self, message: BoardLoaded) -> None:
        data = message.data
        self._set_options("#filter-target", [(f"{t:.1%}", t) for t in data.targets])
        self._set_options("#filter-width", [(f"width {w}", w) for w in data.widths])
        self._set_options("#filter-dataset", [(d, d) for d in data.datasets])
        self.rows = data.rows
        self._fill_table()
        self.query_one(AccuracyPlot).show(data.curves, data.targets)
        pruned = sum(r.runs for r in {(r.algorithm, r.dataset): r for r in data.rows}.values())
        status = f"{len({r.algorithm for r in data.rows})} algorithms, {pruned:,} pruning runs"
        if not data.rows:
            status = "no pruning runs yet: build a sweep with F1"
        if any(r.gap_ratio is not None and r.gap_ratio < 1.0 for r in data.rows):
            status += " · *gap < 1: sparser than anything the search trained"
        self.query_one("#board-status", Static).update(
            status + " · enter: inspect the winning run · s: sort · r: reverse · p: plot"
        )

    def _set_options(self, selector: str, options: list[tuple[str, Any]]) -> None:
        select: Select[Any] = self.query_one(selector, Select)
        if getattr(select, "_sparsest_options", None) == options:
            return
        select._sparsest_options = options  # type: ignore[attr-defined]
        value = select.value
        with select.prevent(Select.Changed):
            select.set_options(options)
            if value in [v for _, v in options]:
                select.value = value

    def _fill_table(self) -> None:
        table = self.query_one(DataTable)
        current = None
        if table.row_count and table.cursor_row < table.row_count:
            current = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        rows = sorted(self.rows, key=_sort_key(self.sort_column), reverse=self.sort_reverse)
        if self.sort_reverse:
            rows.sort(key=lambda r: _sort_key(self.sort_column)(r)[0])
        table.clear(columns=True)
        for key, label in COLUMNS:
            arrow = (" ▼" if self.sort_reverse else " ▲") if key == self.sort_column else ""
            table.add_column(Text(label + arrow), key=key)
        for row in rows:
            key = _row_key(row)
            table.add_row(*(_cell(row, name) for name, _ in COLUMNS), key=key)
        if current is not None and current in table.rows:
            table.move_cursor(row=table.get_row_index(current))

    # -- actions -------------------------------------------------------------------------

    @on(Select.Changed)
    def _filter(self, event: Select.Changed) -> None:
        def value(selector: str) -> Any:
            chosen = self.query_one(selector, Select).value
            return None if chosen is Select.NULL else chosen

        self.filters = reads.BoardFilters(
            value("#filter-target"), value("#filter-width"), value("#filter-init"),
            value("#filter-dataset"),
        )  # fmt: skip
        self._load(self.filters)

    @on(DataTable.HeaderSelected)
    def _header(self, event: DataTable.HeaderSelected) -> None:
        name = str(event.column_key.value)
        if name == self.sort_column:
            self.sort_reverse = not self.sort_reverse
        else:
            self.sort_column, self.sort_reverse = name, False
        self._fill_table()

    def action_sort_next(self) -> None:
        names = [name for name, _ in COLUMNS]
        self.sort_column = names[(names.index(self.sort_column) + 1) % len(names)]
        self.sort_reverse = False
        self._fill_table()

    def action_reverse(self) -> None:
        self.sort_reverse = not self.sort_reverse
        self._fill_table()

    def action_toggle_plot(self) -> None:
        plot = self.query_one(AccuracyPlot)
        plot.display = not plot.display

    @on(DataTable.RowSelected)
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_open_run()

    def action_open_run(self) -> None:
        table = self.query_one(DataTable)
        if not table.row_count:
            return
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        row = next((r for r in self.rows if _row_key(r) == key), None)
        if row is None:
            return
        if row.run_key is not None:
            self.post_message(OpenRun(row.run_key))
            return
        self.notify(
            f"no {row.algorithm} run reached {row.target:.1%}: showing its most accurate run"
        )
        self._open_most_accurate(row.algorithm, row.dataset, self.filters)

    @work(thread=True, exclusive=True, group="open", name="most accurate run", exit_on_error=False)
    def _open_most_accurate(
        self, algorithm: str, dataset: str, filters: reads.BoardFilters
    ) -> None:
        run_key = reads.most_accurate_run(self.sparsest.store, algorithm, dataset, filters)
        if run_key is not None:
            self.post_message(OpenRun(run_key))
