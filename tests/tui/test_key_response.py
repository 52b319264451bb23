"""Benchmark: how fast the app answers a key while a sweep trains in the background.

A real `sparsest run` trains in a subprocess (the fake runner keeps a CPU busy instead
if the real one cannot start); the leaderboard polls the store meanwhile. Each sample
is the time from posting a key to the first screen update that shows its effect (the
compositor's render, as a terminal would get it). The issue's target is a median under
100 ms; the assertion is deliberately loose (1 s) so that a loaded CI machine does not
fail it, and the figure is printed.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from pathlib import Path

import pytest
from textual.widgets import DataTable

from tests.tui.helpers import fake_runner, wait_for
from tui.app import make_app

pytestmark = pytest.mark.asyncio

SPEC = """name = "key-response"
dataset = "cubist-spiral"
epochs = 50
lrs = [0.05, 0.1, 0.2]
schedules = ["constant"]
targets = [0.95]
device = "cpu"
population = 64
[prune]
algorithms = ["imp", "snip", "synflow"]
widths = [3, 4, 5, 6, 7, 8]
nnz = [15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26]
"""
REAL_RUNNER = (sys.executable, "-m", "harness.cli.main", "run")
SAMPLES = 40


async def measure(pilot, table: DataTable, displays: list[tuple[float, int]]) -> list[float]:  # type: ignore[no-untyped-def, type-arg]
    """Press down/up on the leaderboard; each sample: key posted -> first display that
    shows the moved cursor."""
    app = pilot.app
    samples = []
    for index in range(SAMPLES):
        key = "down" if index % 2 == 0 else "up"
        before = table.cursor_row
        seen = len(displays)
        started = time.perf_counter()
        app.simulate_key(key)
        while not any(row != before for _, row in displays[seen:]):
            if time.perf_counter() - started > 5:
                raise AssertionError("no screen update within 5 s of a key press")
            await asyncio.sleep(0.001)
        shown = next(t for t, row in displays[seen:] if row != before)
        samples.append(shown - started)
        await asyncio.sleep(0.05)
    return samples


async def run_benchmark(
    db: Path, tmp_path: Path, runner: tuple[str, ...]
) -> tuple[list[float], str]:
    app = make_app(db, runner=runner, spec_dir=tmp_path, poll_interval=1.0, preload=False)
    displays: list[tuple[float, int]] = []
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.screen.query_one(DataTable)
        app.post_display_hook = lambda: displays.append((time.perf_counter(), table.cursor_row))  # type: ignore[method-assign]
        await wait_for(pilot, lambda: table.row_count == 8)
        sweep = app.launch_sweep("key-response", SPEC)
        await wait_for(
            pilot, lambda: sweep.done > 0 or "pruning" in sweep.stage or not sweep.live, timeout=60
        )
        if not sweep.live:
            return [], f"runner ended before training: {sweep.status} {sweep.message}"
        samples = await measure(pilot, table, displays)
        training = sweep.live
        await app.sweeps.cancel(sweep, grace_s=1.0)
    return (
        samples,
        "training" if training else f"ended during the measurement: {sweep.status} {sweep.message}",
    )


async def test_key_response_while_a_sweep_trains(fixed_store: Path, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    samples, state = await run_benchmark(fixed_store, tmp_path, REAL_RUNNER)
    runner = "sparsest run"
    if not samples:
        runner = f"fake runner keeping a CPU busy ({state})"
        samples, state = await run_benchmark(
            fixed_store, tmp_path, fake_runner("--delay", "1", "--burn")
        )
    median = statistics.median(samples)
    p90 = statistics.quantiles(samples, n=10)[-1]
    with capsys.disabled():
        print(
            f"\nkey response while a sweep trains ({runner}, sweep {state}): "
            f"median {median * 1000:.1f} ms, p90 {p90 * 1000:.1f} ms, max "
            f"{max(samples) * 1000:.1f} ms over {len(samples)} keys"
        )
    assert median < 1.0
