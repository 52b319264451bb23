"""Sweep events as the app reads them (harness.sweeps.events.SweepEvent folded into a
LiveSweep), the store probe, and the seams: no torch on import, screens see a protocol."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from harness.sweeps.events import SweepEvent
from store.db import ResultsStore
from tests.store.helpers import make_record
from tui.app import make_app
from tui.screens.host import SparsestHost
from tui.workers import LiveSweep, StoreVersion, SweepManager, probe

ROOT = Path(__file__).resolve().parents[2]


def fold(sweep: LiveSweep, *events: SweepEvent) -> LiveSweep:
    for event in events:
        sweep.apply(SweepEvent.from_json(event.as_json()))  # type: ignore[arg-type]
    return sweep


def test_events_fold_into_the_live_sweep(tmp_path: Path) -> None:
    sweep = LiveSweep(1, "s", tmp_path / "s.toml")
    fold(sweep, SweepEvent("start", 7, 0, 12))
    assert (sweep.status, sweep.sweep_id, sweep.done, sweep.total) == ("running", 7, 0, 12)
    fold(sweep, SweepEvent("stage", 7, 0, 12, stage="phase 1", message="phase 1 begins"))
    assert sweep.stage == "phase 1" and sweep.log == ["phase 1 begins"]
    fold(sweep, SweepEvent("progress", 7, 4, 12, models_per_s=2.0, eta_s=4.0, stage="phase 1"))
    assert (sweep.done, sweep.models_per_s, sweep.eta_s) == (4, 2.0, 4.0)
    fold(sweep, SweepEvent("progress", 7, 5, 14, models_per_s=2.5))  # total grows; eta unknown
    assert (sweep.done, sweep.total, sweep.eta_s, sweep.stage) == (5, 14, None, "phase 1")
    fold(sweep, SweepEvent("log", 7, 5, 14, message="hello"))
    assert sweep.log[-1] == "hello" and sweep.status == "running"
    fold(sweep, SweepEvent("done", 7, 14, 14))
    assert (sweep.status, sweep.done, sweep.eta_s) == ("done", 14, 0.0)


def test_a_sweep_not_yet_numbered_keeps_no_id(tmp_path: Path) -> None:
    sweep = fold(LiveSweep(1, "s", tmp_path / "s.toml"), SweepEvent("start", 0, 0, 3))
    assert sweep.sweep_id is None and sweep.status == "running"


def test_while_cancelling_only_the_counts_move(tmp_path: Path) -> None:
    sweep = LiveSweep(1, "s", tmp_path / "s.toml", status="cancelling")
    fold(sweep, SweepEvent("log", 3, 2, 9, message="late"), SweepEvent("done", 3, 9, 9))
    assert (sweep.status, sweep.done, sweep.log) == ("cancelling", 9, [])


@pytest.mark.asyncio
async def test_stray_lines_and_unknown_events_go_to_the_log(tmp_path: Path) -> None:
    """Lines that are not events (a print, an `error` kind nothing emits) are kept as
    log lines; a failure is told by the exit status and stderr."""
    script = (
        "import sys\n"
        f"print({SweepEvent('start', 4, 0, 2).as_json()!r})\n"
        "print('a stray print')\n"
        'print(\'{"event": "error", "sweep_id": 4, "message": "x"}\')\n'
        f"print({SweepEvent('progress', 4, 1, 2, models_per_s=1.0).as_json()!r}, flush=True)\n"
        "print('error: out of luck', file=sys.stderr)\n"
        "sys.exit(3)\n"
    )
    manager = SweepManager(
        tmp_path / "db.duckdb", (sys.executable, "-c", script), spec_dir=tmp_path
    )
    sweep = await manager.run(manager.prepare("s", 'name = "s"\n'))
    assert (sweep.sweep_id, sweep.done, sweep.total) == (4, 1, 2)
    assert sweep.log[:2] == ["a stray print", '{"event": "error", "sweep_id": 4, "message": "x"}']
    assert (sweep.status, sweep.message) == ("failed", "error: out of luck")


def test_probe_reads_the_store_version(tmp_path: Path) -> None:
    store = ResultsStore(tmp_path / "db.duckdb")
    assert "no results store" in str(probe(store))
    store.write_runs([make_record("a")])
    sweep_id = store.create_sweep("s", "{}")
    version = probe(store)
    assert isinstance(version, StoreVersion)
    assert version.runs == 1 and version.sweeps == f"{sweep_id}running"
    store.set_sweep_status(sweep_id, "done")
    assert probe(store) != version


def test_workers_and_screens_import_without_torch() -> None:
    code = (
        "import sys, tui.workers, tui.screens.base, tui.specform; "
        "bad = [m for m in sys.modules if m.split('.')[0] == 'torch']; assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


def test_the_app_is_what_screens_expect_of_it(tmp_path: Path) -> None:
    app = make_app(tmp_path / "db.duckdb", spec_dir=tmp_path, preload=False)
    assert isinstance(app, SparsestHost)


def test_the_executor_and_its_cluster_size_come_with_the_events(tmp_path: Path) -> None:
    sweep = LiveSweep(1, "s", tmp_path / "s.toml")
    assert sweep.where == ""
    fold(sweep, SweepEvent("start", 3, 0, 9, executor="local", workers=1, nodes=1))
    assert sweep.where == "local"
    fold(sweep, SweepEvent("progress", 3, 2, 9, executor="ray", workers=4, in_flight=3, nodes=2))
    assert sweep.where == "ray: 3/4 tasks on 2 nodes"
    fold(sweep, SweepEvent("progress", 3, 9, 9, executor="ray", workers=2, in_flight=0, nodes=1))
    assert sweep.where == "ray: 0/2 tasks on 1 node"
