"""SVG snapshots of the main screens on the fixed store of tests/tui/snapshot_app.py.

Regenerate after an intended change with `pytest tests/tui --snapshot-update`.
"""

from __future__ import annotations

from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import DataTable, Input, TextArea

from tests.tui.helpers import wait_for
from tests.tui.snapshot_app import snapshot_app
from tui.screens.builder import BuilderScreen
from tui.screens.inspector import InspectorScreen

WIDE, NARROW = (120, 40), (80, 24)


async def board_loaded(pilot: Pilot[None]) -> None:
    table = pilot.app.screen.query_one(DataTable)
    await wait_for(pilot, lambda: table.row_count == 8)
    await pilot.pause(0.2)


async def builder_checked(pilot: Pilot[None]) -> None:
    await pilot.press("f1")
    app = pilot.app
    await wait_for(pilot, lambda: isinstance(app.screen, BuilderScreen) and app.screen.form.ready)
    await wait_for(
        pilot,
        lambda: (
            app.screen.check is not None and app.screen.check.generation == app.screen.generation
        ),
    )
    app.screen.query_one("#algorithms").focus()
    await pilot.pause(0.2)


async def inspector_loaded(pilot: Pilot[None]) -> None:
    await board_loaded(pilot)
    await pilot.press("enter")
    app = pilot.app
    await wait_for(
        pilot, lambda: isinstance(app.screen, InspectorScreen) and app.screen.view is not None
    )
    # Nothing focused: the key box's blinking cursor would make the picture racy.
    for key_input in app.screen.query(Input):
        key_input.cursor_blink = False
    app.screen.set_focus(None)
    await wait_for(pilot, lambda: app.focused is None)
    await pilot.pause(0.2)


async def runs_listed(pilot: Pilot[None]) -> None:
    await pilot.press("f2")
    await wait_for(pilot, lambda: pilot.app.screen.query_one(DataTable).row_count == 2)
    await pilot.pause(0.2)


async def query_run(pilot: Pilot[None]) -> None:
    await pilot.press("f5")
    app = pilot.app
    app.screen.query_one(
        TextArea
    ).text = "SELECT algorithm, target, weight_nnz, gap_ratio FROM leaderboard ORDER BY 1, 2"
    await pilot.press("ctrl+r")
    result = app.screen.query_one("#sql-result", DataTable)
    await wait_for(pilot, lambda: result.row_count == 8)
    await wait_for(pilot, lambda: len(app.screen.query_one("#sql-schema").root.children) > 3)
    result.focus()
    await pilot.pause(0.2)


class TestLeaderboard:
    def test_wide(self, snap_compare, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
        assert snap_compare(snapshot_app(tmp_path), terminal_size=WIDE, run_before=board_loaded)

    def test_narrow(self, snap_compare, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
        assert snap_compare(snapshot_app(tmp_path), terminal_size=NARROW, run_before=board_loaded)


class TestBuilder:
    def test_wide(self, snap_compare, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
        assert snap_compare(snapshot_app(tmp_path), terminal_size=WIDE, run_before=builder_checked)

    def test_narrow(self, snap_compare, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
        assert snap_compare(
            snapshot_app(tmp_path), terminal_size=NARROW, run_before=builder_checked
        )


class TestRuns:
    def test_wide(self, snap_compare, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
        assert snap_compare(snapshot_app(tmp_path), terminal_size=WIDE, run_before=runs_listed)


class TestInspector:
    def test_wide(self, snap_compare, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
        assert snap_compare(snapshot_app(tmp_path), terminal_size=WIDE, run_before=inspector_loaded)

    def test_narrow(self, snap_compare, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
        assert snap_compare(
            snapshot_app(tmp_path), terminal_size=NARROW, run_before=inspector_loaded
        )


class TestSql:
    def test_wide(self, snap_compare, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
        assert snap_compare(snapshot_app(tmp_path), terminal_size=WIDE, run_before=query_run)
