"""Runs: every sweep in the store and every sweep this app is running, with progress,
models per second and ETA; cancel a running one, resume (rerun) any other."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import DataTable, Footer, Header, RichLog, Static

from store.db import SweepRow
from tui import reads
from tui.messages import SweepUpdated
from tui.screens.base import SparsestScreen
from tui.specform import stored_spec_toml
from tui.workers import LiveSweep, StoreVersion

COLUMNS = ("id", "name", "status", "progress", "runs", "models/s", "ETA", "stage")
STATUS_STYLE = {
    "starting": "yellow",
    "running": "bold yellow",
    "cancelling": "yellow",
    "done": "green",
    "failed": "bold red",
    "cancelled": "dim",
    "interrupted": "dim",
}


def progress_bar(done: int, total: int, width: int = 16) -> Text:
    """A bar of block characters and the percentage; empty when the total is unknown."""
    if total <= 0:
        return Text("·" * width, style="dim")
    fraction = min(max(done / total, 0.0), 1.0)
    filled = round(fraction * width)
    bar = Text("█" * filled, style="green")
    bar.append("░" * (width - filled), style="dim")
    bar.append(f" {fraction:4.0%}")
    return bar


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


class SweepsLoaded(Message):
    def __init__(self, data: reads.SweepsData) -> None:
        super().__init__()
        self.data = data


class RunsScreen(SparsestScreen):
    TITLE = "Runs"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("c", "cancel", "Cancel"),
        Binding("r", "resume", "Resume"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.stored: dict[int, SweepRow] = {}
        self._logged: tuple[str, int] = ("", 0)

    def compose(self) -> ComposeResult:
        yield Header()
        table: DataTable[Any] = DataTable(id="runs-table", cursor_type="row", zebra_stripes=True)
        yield table
        yield Static("", id="runs-detail", markup=False)
        yield RichLog(id="runs-log", max_lines=500, wrap=True, markup=False)
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        super().on_mount()
        table = self.query_one(DataTable)
        for name in COLUMNS:
            table.add_column(name, key=name)
        self._fill()
        table.focus()

    def reload(self, version: StoreVersion | str) -> None:
        if isinstance(version, str):
            self.query_one("#runs-detail", Static).update(version)
            self._fill()
            return
        self._load()

    @work(thread=True, exclusive=True, group="sweeps-list", name="sweeps", exit_on_error=False)
    def _load(self) -> None:
        self.post_message(SweepsLoaded(reads.sweeps(self.sparsest.store)))

    @on(SweepsLoaded)
    def _loaded(self, message: SweepsLoaded) -> None:
        self.stored = {row.id: row for row in message.data.sweeps}
        self._fill()

    # -- the table -----------------------------------------------------------------------

    def _entries(self) -> list[tuple[str, SweepRow | None, LiveSweep | None]]:
        """(row key, stored row, live sweep) for every sweep, newest first."""
        entries: list[tuple[str, SweepRow | None, LiveSweep | None]] = []
        live_ids = set()
        for sweep in self.sparsest.sweeps.sweeps.values():
            if sweep.sweep_id is not None:
                live_ids.add(sweep.sweep_id)
                entries.append((f"s{sweep.sweep_id}", self.stored.get(sweep.sweep_id), sweep))
            else:
                entries.append((f"l{sweep.key}", None, sweep))
        entries += [(f"s{i}", row, None) for i, row in self.stored.items() if i not in live_ids]

        def order(entry: tuple[str, SweepRow | None, LiveSweep | None]) -> tuple[int, int]:
            key, _, live = entry
            return (
                (0, -live.key) if live is not None and live.sweep_id is None else (1, -int(key[1:]))
            )

        return sorted(entries, key=order)

    def _cells(self, row: SweepRow | None, live: LiveSweep | None) -> list[Any]:
        if live is not None:
            status = live.status
            runs = f"{live.done:,}/{live.total:,}" if live.total else f"{live.done:,}"
            rate = f"{live.models_per_s:,.1f}" if live.models_per_s else "—"
            eta = duration(live.eta_s) if live.live else "—"
            identity = str(live.sweep_id) if live.sweep_id is not None else "…"
            cells = [identity, live.name, status, progress_bar(live.done, live.total)]
            cells += [runs, rate, eta, live.stage]
        else:
            assert row is not None
            status = row.status
            bar = progress_bar(1, 1) if status == "done" else progress_bar(0, 0)
            cells = [str(row.id), row.name, status, bar, f"{row.runs:,}", "—", "—", ""]
        cells[2] = Text(status, style=STATUS_STYLE.get(status, ""))
        return cells

    def _fill(self) -> None:
        table = self.query_one(DataTable)
        current = None
        if table.row_count and table.cursor_row < table.row_count:
            current = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        table.clear()
        for key, row, live in self._entries():
            table.add_row(*self._cells(row, live), key=key)
        if current is not None and current in table.rows:
            table.move_cursor(row=table.get_row_index(current))
        self._show_detail()

    @on(SweepUpdated)
    def _updated(self, message: SweepUpdated) -> None:
        sweep = message.sweep
        table = self.query_one(DataTable)
        key = f"s{sweep.sweep_id}" if sweep.sweep_id is not None else f"l{sweep.key}"
        if key not in table.rows:
            self._fill()
            return
        for name, value in zip(COLUMNS, self._cells(self.stored.get(sweep.sweep_id or -1), sweep)):
            table.update_cell(key, name, value, update_width=True)
        if self._selected() == (key, sweep):
            self._show_detail()

    # -- selection and actions -----------------------------------------------------------

    def _selected(self) -> tuple[str, SweepRow | LiveSweep] | None:
        table = self.query_one(DataTable)
        if not table.row_count:
            return None
        key = str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)
        for entry_key, row, live in self._entries():
            if entry_key == key:
                chosen = live if live is not None else row
                return (key, chosen) if chosen is not None else None
        return None

    @on(DataTable.RowHighlighted)
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_detail()

    def _show_detail(self) -> None:
        detail = self.query_one("#runs-detail", Static)
        log = self.query_one(RichLog)
        selected = self._selected()
        if selected is None:
            log.clear()
            self._logged = ("", 0)
            detail.update("no sweeps yet: build one with F1")
            return
        key, item = selected
        lines, total = (item.log, item.logged) if isinstance(item, LiveSweep) else ([item.spec], 1)
        if self._logged[0] != key:
            log.clear()
            self._logged = (key, total - len(lines))
        for line in lines[len(lines) - min(total - self._logged[1], len(lines)) :]:
            log.write(line)
        self._logged = (key, total)
        if isinstance(item, LiveSweep):
            where = f" · {item.where}" if item.where else ""
            detail.update(
                f"{item.name}: {item.status}{where} · spec {item.spec_path} · "
                + ("c: cancel" if item.live else "r: run again (finishes what is missing)")
            )
        else:
            detail.update(
                f"{item.name}: {item.status}, {item.runs:,} runs written · "
                "r: run again (finishes what is missing)"
            )

    def action_cancel(self) -> None:
        selected = self._selected()
        if selected is None or not isinstance(selected[1], LiveSweep) or not selected[1].live:
            self.notify(
                "only a sweep this app is running can be cancelled here", severity="warning"
            )
            return
        self.sparsest.cancel_sweep(selected[1])

    def action_resume(self) -> None:
        selected = self._selected()
        if selected is None:
            return
        item = selected[1]
        if isinstance(item, LiveSweep):
            if item.live:
                self.notify("this sweep is still running", severity="warning")
                return
            name, text = item.name, item.spec_path.read_text()
        else:
            if any(s.sweep_id == item.id and s.live for s in self.sparsest.sweeps.sweeps.values()):
                self.notify("this sweep is still running", severity="warning")
                return
            try:
                name, text = item.name, stored_spec_toml(item.spec)
            except ValueError as error:
                self.notify(f"cannot rerun sweep {item.id}: {error}", severity="error")
                return
        self.sparsest.launch_sweep(name, text)
        self.notify(f"running {name} again: only missing runs will train")
