"""The sweep builder, driven by a pilot: bad input marked in place, presets, save, launch."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import DataTable, Input, Select, Static

from harness.sweeps.spec_file import load_spec
from tests.tui.helpers import app_on, text_of, wait_for
from tui.screens.builder import BuilderScreen
from tui.screens.runs import RunsScreen
from tui.widgets.fields import Field

pytestmark = pytest.mark.asyncio


def field(app, name: str) -> Field:  # type: ignore[no-untyped-def]
    return app.screen.query_one(f"#field-{name}", Field)


def summary(app) -> str:  # type: ignore[no-untyped-def]
    return text_of(app.screen.query_one("#builder-summary", Static))


async def ready(pilot) -> None:  # type: ignore[no-untyped-def]
    app = pilot.app
    await wait_for(pilot, lambda: isinstance(app.screen, BuilderScreen) and app.screen.form.ready)
    await wait_for(
        pilot,
        lambda: (
            app.screen.check is not None and app.screen.check.generation == app.screen.generation
        ),
    )


async def type_into(pilot, name: str, text: str) -> None:  # type: ignore[no-untyped-def]
    widget = pilot.app.screen.query_one(f"#{name}", Input)
    widget.value = text
    generation = pilot.app.screen.generation
    await wait_for(pilot, lambda: pilot.app.screen.generation > generation)
    await ready(pilot)


async def test_bad_input_is_marked_in_place_with_the_reason(
    fixed_store: Path, tmp_path: Path
) -> None:
    app = app_on(fixed_store, tmp_path, "builder")
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        assert app.screen.check.valid, app.screen.check
        await type_into(pilot, "widths", "3, x")
        assert field(app, "widths").has_class("-invalid")
        assert "'x' is not a whole number" in (field(app, "widths").reason or "")
        assert "1 field to fix: prune widths" in summary(app)
        await type_into(pilot, "widths", "3")
        assert not field(app, "widths").has_class("-invalid")
        # caught by the harness's own validation, mapped back to the field
        await type_into(pilot, "epochs", "0")
        assert field(app, "epochs").reason == "must be at least 1"
        await type_into(pilot, "epochs", "50")
        await type_into(pilot, "targets", "0.95, 1.5")
        assert "outside (0, 1]" in (field(app, "targets").reason or "")
        await type_into(pilot, "targets", "0.95")
        await type_into(pilot, "nnz", "15, 500")
        assert field(app, "nnz").has_class("-warning")
        assert "500" in (field(app, "nnz").reason or "")
        await pilot.press("ctrl+r")  # still launchable: the harness skips that target
        await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen))


async def test_a_preset_fills_the_form_and_counts_its_runs(
    fixed_store: Path, tmp_path: Path
) -> None:
    app = app_on(fixed_store, tmp_path, "builder")
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        app.screen.query_one("#preset", Select).value = "paper-overparam"
        await wait_for(
            pilot, lambda: app.screen.query_one("#widths", Input).value.startswith("3-8")
        )
        await ready(pilot)
        assert app.screen.query_one("#widths", Input).value == "3-8, 16, 32, 64, 128, 256"
        assert "runs: 18,954" in summary(app)
        assert "model-epochs/s" in summary(app)


async def test_save_writes_a_spec_the_cli_can_run(fixed_store: Path, tmp_path: Path) -> None:
    app = app_on(fixed_store, tmp_path, "builder")
    target = tmp_path / "saved.toml"
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        app.screen.query_one("#save-path", Input).value = str(target)
        await pilot.press("ctrl+s")
        await wait_for(pilot, target.exists)
        app.screen.query_one("#save-path", Input).value = str(tmp_path / "missing" / "x.toml")
        await pilot.press("ctrl+s")
        assert "cannot write" in (field(app, "save-path").reason or "")
    spec = load_spec(str(target))
    assert spec.name == "my-sweep" and spec.prune is not None
    assert spec.prune.algorithms == ("imp", "snip")


async def test_launch_a_tiny_sweep_and_watch_it_finish(fixed_store: Path, tmp_path: Path) -> None:
    app = app_on(fixed_store, tmp_path, "builder")
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        await type_into(pilot, "name", "tiny")
        await type_into(pilot, "nnz", "15-17")
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen))
        sweep = next(iter(app.sweeps.sweeps.values()))
        await wait_for(pilot, lambda: sweep.status == "done")
        assert (sweep.done, sweep.total) == (6, 6)
        table = app.screen.query_one(DataTable)
        key = f"s{sweep.sweep_id}"
        # the table catches up with the finished sweep on its next refresh
        await wait_for(pilot, lambda: key in table.rows and str(table.get_row(key)[2]) == "done")
        row = table.get_row(key)
        assert row[1] == "tiny" and "100%" in str(row[3])
        # the leaderboard has picked up the new runs
        await pilot.press("f3")
        board = app.screen.query_one(DataTable)
        await wait_for(
            pilot, lambda: any(r.runs >= 10 for r in app.screen.rows if r.algorithm == "imp")
        )
        assert board.row_count == 8
