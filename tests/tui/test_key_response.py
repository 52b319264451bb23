"""Keys on the leaderboard do their action while a sweep runs in the background.

Functional only: how fast the app answers is a figure of `sparsest bench --suite tui`
(harness.bench.tui_suite), not a test.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import DataTable

from tests.tui.helpers import app_on, wait_for

pytestmark = pytest.mark.asyncio

SPEC = """name = "keys"
targets = [0.95]
[prune]
algorithms = ["imp"]
widths = [3]
nnz = [15, 16, 17, 18]
"""


async def test_keys_move_the_leaderboard_while_a_sweep_runs(
    fixed_store: Path, tmp_path: Path
) -> None:
    hold = tmp_path / "hold"
    hold.touch()  # the fake sweep stays running (after 1 run) until this is removed
    app = app_on(
        fixed_store, tmp_path, "leaderboard", "--hold-after", "1", "--hold-file", str(hold)
    )
    shown: list[int] = []
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.screen.query_one(DataTable)
        app.post_display_hook = lambda: shown.append(table.cursor_row)  # type: ignore[method-assign]
        await wait_for(pilot, lambda: table.row_count == 8)
        sweep = app.launch_sweep("keys", SPEC)
        await wait_for(pilot, lambda: sweep.done == 1)
        start = table.cursor_row
        for key, row in (("down", start + 1), ("down", start + 2), ("up", start + 1)):
            seen = len(shown)
            await pilot.press(key)  # then a frame shows the cursor moved
            await wait_for(pilot, lambda row=row, seen=seen: row in shown[seen:])
            assert table.cursor_row == row
        assert sweep.live and sweep.done == 1  # the keys were answered mid-sweep
        await app.sweeps.cancel(sweep, grace_s=1.0)
        await wait_for(pilot, lambda: sweep.status == "cancelled")
