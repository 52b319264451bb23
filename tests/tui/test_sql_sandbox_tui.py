"""The app's SQL screen is read-only for real, and a broken store or run is one clear
message, not a stack of pop-ups (issue 14)."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pytest
from textual.widgets import Input, Static, TextArea

from store.db import ResultsStore
from tests.store.helpers import make_record
from tests.tui.helpers import app_on, text_of, wait_for
from tui.widgets.fields import Field

pytestmark = pytest.mark.asyncio


def _count(path: Path) -> int:
    with duckdb.connect(str(path), read_only=True) as conn:
        return int(conn.execute("SELECT count(*) FROM runs").fetchall()[0][0])


async def _run_query(pilot, query: str) -> str:  # type: ignore[no-untyped-def]
    """Type `query` into the SQL screen, run it, and return the status line it ends with."""
    screen = pilot.app.screen
    status = screen.query_one("#sql-status", Static)
    status.update("")  # so that the last query's status does not pass for this one's
    screen.query_one(TextArea).text = query
    await pilot.press("ctrl+r")
    await wait_for(pilot, lambda: text_of(status).strip() not in ("running…", ""))
    return text_of(status).strip()


async def test_the_sql_screen_touches_no_other_file(
    fixed_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    other = tmp_path / "other.duckdb"
    ResultsStore(other).write_runs([make_record(f"o{i}") for i in range(5)])
    other_bytes = other.read_bytes()
    link = tmp_path / "link.duckdb"
    os.link(fixed_store, link)
    runs = _count(fixed_store)
    hostile = {
        "SELECT * FROM read_csv('/etc/passwd')": "disabled by configuration",
        "SELECT * FROM read_text('/etc/passwd')": "disabled by configuration",
        "SELECT * FROM glob('/etc/*')": "disabled by configuration",
        "COPY runs TO 'x.csv'": "disabled by configuration",
        f"COPY (SELECT 1) TO '{other}' (FORMAT csv)": "disabled by configuration",
        f"ATTACH '{other}' AS e (READ_WRITE); DELETE FROM e.runs": "disabled by configuration",
        f"ATTACH '{link}' AS e (READ_WRITE); DELETE FROM e.runs": "disabled by configuration",
        "INSTALL httpfs": "disabled by configuration",
        "LOAD httpfs": "disabled",
        "SET threads = 1": "locked",
    }
    app = app_on(fixed_store, tmp_path, "sql")
    async with app.run_test(size=(120, 40)) as pilot:
        for query, reason in hostile.items():
            status = await _run_query(pilot, query)
            assert status.startswith("error: ") and reason in status, (query, status)
        assert (await _run_query(pilot, "SELECT count(*) FROM runs")).startswith("1 rows")
    assert not (tmp_path / "x.csv").exists()
    assert other.read_bytes() == other_bytes and _count(other) == 5
    assert _count(fixed_store) == runs


async def test_a_truncated_store_is_one_message_not_a_pile_of_popups(
    fixed_store: Path, tmp_path: Path
) -> None:
    cut = tmp_path / "cut.duckdb"
    cut.write_bytes(fixed_store.read_bytes()[:524288])
    app = app_on(cut, tmp_path)  # polls the store every 0.2 s
    async with app.run_test(size=(120, 40)) as pilot:
        status = app.screen.query_one("#board-status", Static)
        await wait_for(pilot, lambda: "truncated or corrupt" in text_of(status))
        await pilot.pause(1.0)  # several more polls
        assert list(app._notifications) == []
        assert "truncated or corrupt" in text_of(status)


async def test_the_inspector_names_a_corrupt_run(fixed_store: Path, tmp_path: Path) -> None:
    with duckdb.connect(str(fixed_store)) as conn:
        key = conn.execute(
            "SELECT run_key FROM masks WHERE weights IS NOT NULL ORDER BY run_key LIMIT 1"
        ).fetchall()[0][0]
        conn.execute("UPDATE masks SET mask = '\\x01'::BLOB WHERE run_key = ?", [key])
    app = app_on(fixed_store, tmp_path, "inspector")
    async with app.run_test(size=(120, 40)) as pilot:
        app.screen.query_one("#run-key", Input).value = key
        await pilot.press("enter")
        field = app.screen.query_one(Field)
        await wait_for(pilot, lambda: field.reason is not None)
        assert field.reason is not None and field.reason.startswith(f"corrupt run {key}")
        assert list(app._notifications) == []
