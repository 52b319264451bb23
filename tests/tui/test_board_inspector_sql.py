"""The leaderboard (sort, filter, open a run), the inspector and the SQL screen."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import DataTable, Input, Select, Static, TextArea

from tests.tui.helpers import app_on, text_of, wait_for
from tui.screens.inspector import InspectorScreen
from tui.widgets.fields import Field

pytestmark = pytest.mark.asyncio


async def board_ready(pilot) -> DataTable:  # type: ignore[no-untyped-def, type-arg]
    table = pilot.app.screen.query_one(DataTable)
    await wait_for(pilot, lambda: table.row_count > 0)
    return table


async def test_leaderboard_sorts_and_filters(fixed_store: Path, tmp_path: Path) -> None:
    app = app_on(fixed_store, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        table = await board_ready(pilot)
        assert table.row_count == 8
        first = [str(table.get_row_at(i)[0]) for i in range(2)]
        assert first == ["imp", "lth"]  # fewest weight nnz first, missing last
        await pilot.click("#board-table", offset=(3, 0))  # header: algorithm
        await pilot.pause()
        assert app.screen.sort_column == "algorithm"
        assert [str(table.get_row_at(i)[0]) for i in (0, 7)] == ["imp", "synflow"]
        await pilot.press("r")
        assert str(table.get_row_at(0)[0]) == "synflow"
        app.screen.query_one("#filter-width", Select).value = 3
        await wait_for(pilot, lambda: all(r.runs == 3 for r in app.screen.rows))
        app.screen.query_one("#filter-target", Select).value = 0.95
        await wait_for(pilot, lambda: table.row_count == 4)
        app.screen.query_one("#filter-init", Select).value = "fixed"
        await wait_for(pilot, lambda: table.row_count == 0)


async def test_enter_on_a_row_opens_the_winning_run(fixed_store: Path, tmp_path: Path) -> None:
    app = app_on(fixed_store, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await board_ready(pilot)
        winner = app.screen.rows[0]
        await pilot.press("enter")
        await wait_for(
            pilot, lambda: isinstance(app.screen, InspectorScreen) and app.screen.view is not None
        )
        view = app.screen.view
        assert view.record.run_key == winner.run_key
        assert view.effective_nnz == view.record.effective_nnz
        details = text_of(app.screen.query_one("#inspect-details", Static))
        assert "weight_nnz" in details and winner.algorithm in details


async def test_inspector_by_key_prefix_and_a_bad_key(fixed_store: Path, tmp_path: Path) -> None:
    app = app_on(fixed_store, tmp_path, "inspector")
    async with app.run_test(size=(120, 40)) as pilot:
        key_input = app.screen.query_one("#run-key", Input)
        key_input.value = "nope"
        await pilot.press("enter")
        field = app.screen.query_one(Field)
        await wait_for(pilot, lambda: field.reason is not None)
        assert field.reason == "no run with key 'nope'"
        with app.store.read() as conn:
            key = conn.execute(
                "SELECT run_key FROM runs WHERE kind = 'search-phase1' LIMIT 1"
            ).fetchone()[0]
        key_input.value = key[:8]
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen.view is not None)
        assert field.reason is None
        assert app.screen.view.record.run_key == key
        assert app.screen.view.disconnected == 0  # a dense network


async def test_sql_query_result_and_errors(fixed_store: Path, tmp_path: Path) -> None:
    app = app_on(fixed_store, tmp_path, "sql")
    async with app.run_test(size=(120, 40)) as pilot:
        area = app.screen.query_one(TextArea)
        status = app.screen.query_one("#sql-status", Static)
        area.text = "SELECT kind, count(*) AS n FROM runs GROUP BY kind ORDER BY kind"
        await pilot.press("ctrl+r")
        result = app.screen.query_one("#sql-result", DataTable)
        await wait_for(pilot, lambda: result.row_count == 3)
        assert [str(c.label) for c in result.columns.values()] == ["kind", "n"]
        assert [str(v) for v in result.get_row_at(0)] == ["prune", "28"]
        area.text = "SELEC nonsense"
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: status.has_class("-error"))
        assert "syntax error" in text_of(status).lower()
        area.text = "DELETE FROM runs"
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: "read-only" in text_of(status).lower())
        assert result.row_count == 3
        tree = app.screen.query_one("#sql-schema")
        assert any(str(node.label) == "runs" for node in tree.root.children)


async def test_a_failing_worker_becomes_one_notification(
    fixed_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tui import reads

    def broken(*args: object) -> None:
        raise RuntimeError("the store fell over")

    monkeypatch.setattr(reads, "board", broken)
    app = app_on(fixed_store, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: len(app._notifications) > 0)
        note = next(iter(app._notifications))
        assert note.message == "RuntimeError: the store fell over"
        assert note.title == "leaderboard failed" and note.severity == "error"
        await pilot.press("f2")  # the app goes on
        await wait_for(pilot, lambda: app.screen.query_one(DataTable).row_count == 2)


async def test_a_gap_below_one_is_marked_not_celebrated() -> None:
    """A pruned network sparser than the search's best means the search was not
    exhaustive there: the cell is starred and not styled as a win."""
    from store.queries import LeaderboardRow
    from tui.screens.leaderboard import _cell

    def row(gap: float) -> LeaderboardRow:
        return LeaderboardRow("imp", 0.95, 20, 21, gap, 0.96, 20, "k", 3, 10, "cubist-spiral")

    below, above = _cell(row(20 / 21), "gap_ratio"), _cell(row(33 / 21), "gap_ratio")
    assert below.plain == "0.95×*" and "green" not in str(below.style)
    assert above.plain == "1.57×"
