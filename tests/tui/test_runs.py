"""The runs screen: live progress, cancel, resume, a failing sweep, stored sweeps."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import DataTable, RichLog

from store.db import ResultsStore
from tests.tui.fake_runner import run_key
from tests.tui.helpers import app_on, wait_for
from tui.workers import LiveSweep

pytestmark = pytest.mark.asyncio

SPEC = """name = "slow"
targets = [0.95]
[prune]
algorithms = ["imp"]
widths = [3]
nnz = [15, 16, 17, 18, 19, 20]
"""


def stored_keys(db: Path, sweep_id: int | None) -> list[str]:
    with ResultsStore(db).read() as conn:
        rows = conn.execute("SELECT run_key FROM runs WHERE sweep_id = ?", [sweep_id]).fetchall()
    return sorted(key for (key,) in rows)


def cells(app, sweep: LiveSweep) -> list[str]:  # type: ignore[no-untyped-def]
    return [str(c) for c in app.screen.query_one(DataTable).get_row(f"s{sweep.sweep_id}")]


async def test_stored_sweeps_are_listed(fixed_store: Path, tmp_path: Path) -> None:
    app = app_on(fixed_store, tmp_path, "runs")
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.screen.query_one(DataTable)
        await wait_for(pilot, lambda: table.row_count == 2)
        assert [str(table.get_row(k)[1]) for k in ("s2", "s1")] == ["prune-small", "search-small"]
        assert str(table.get_row("s2")[4]) == "28"


async def test_cancel_then_resume_finishes_what_is_missing(
    fixed_store: Path, tmp_path: Path
) -> None:
    """The fake runner holds after 2 of 6 runs until `hold` is removed, so the cancel
    always lands mid-sweep; the rerun must resume that sweep and train the other 4."""
    hold, trace = tmp_path / "hold", tmp_path / "trained.txt"
    hold.touch()
    held = ("--hold-after", "2", "--hold-file", str(hold), "--trace", str(trace))
    app = app_on(fixed_store, tmp_path, "runs", *held)
    expected = {run_key({"name": "slow"}, "imp", 3, nnz) for nnz in range(15, 21)}
    async with app.run_test(size=(120, 40)) as pilot:
        sweep = app.launch_sweep("slow", SPEC)
        await wait_for(pilot, lambda: sweep.done == 2)
        assert sweep.status == "running" and sweep.total == 6
        table = app.screen.query_one(DataTable)
        await wait_for(pilot, lambda: f"s{sweep.sweep_id}" in table.rows)
        assert "running" in cells(app, sweep)[2] and "/6" in cells(app, sweep)[4]
        table.move_cursor(row=table.get_row_index(f"s{sweep.sweep_id}"))
        await pilot.press("c")
        await wait_for(pilot, lambda: sweep.status == "cancelled")
        assert cells(app, sweep)[2] == "cancelled"
        done_before_cancel = sweep.done
        first = trace.read_text().split()
        assert done_before_cancel == 2 and len(first) == 2
        assert stored_keys(fixed_store, sweep.sweep_id) == sorted(first)

        hold.unlink()
        await pilot.press("r")
        await wait_for(pilot, lambda: 2 in app.sweeps.sweeps)
        again = app.sweeps.sweeps[2]
        await wait_for(pilot, lambda: again.status == "done", timeout=30)
        assert again.spec_path.read_text() == SPEC
        assert again.sweep_id == sweep.sweep_id  # resumed, not a new sweep
        rerun = trace.read_text().split()[len(first) :]
        assert len(rerun) == 6 - done_before_cancel
        assert not set(rerun) & set(first)
        keys = stored_keys(fixed_store, sweep.sweep_id)
        assert len(keys) == len(set(keys)) == 6 and set(keys) == expected


async def test_a_failing_sweep_shows_why(fixed_store: Path, tmp_path: Path) -> None:
    app = app_on(fixed_store, tmp_path, "runs", "--fail")
    async with app.run_test(size=(120, 40)) as pilot:
        sweep = app.launch_sweep("doomed", SPEC)
        await wait_for(pilot, lambda: sweep.status == "failed")
        assert sweep.message == "error: the fake runner was told to fail"
        table = app.screen.query_one(DataTable)
        await wait_for(pilot, lambda: f"s{sweep.sweep_id}" in table.rows)
        table.move_cursor(row=table.get_row_index(f"s{sweep.sweep_id}"))
        await pilot.pause()
        log = app.screen.query_one(RichLog)
        assert any("told to fail" in line.text for line in log.lines)
