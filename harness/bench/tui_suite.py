"""`sparsest bench --suite tui`: how fast the app starts and answers a key.

Figures only (median and 95th percentile in milliseconds); nothing here judges them.
The issue's targets: start-up to the first frame through the CLI under 2 s, key
response a median under 100 ms.

start-up: harness.bench.tui_startup's measurement. A store of `runs` generated runs,
then the app started `repeat` times each way (`sparsest tui --db DB`, and
`make_app(DB).run()`) in a fresh process on a 120 x 40 pseudo-terminal, timed from the
launch to its first frame and to its first frame with the leaderboard filled.

key response: the app (headless, 120 x 40) on that store while a sweep trains in the
background and the leaderboard polls the store; `keys` presses of down and up on the
leaderboard, each timed from posting the key to the first screen update that shows the
moved cursor (the compositor's render, as a terminal would get it). The load (`load`):
`sweep`, a real `sparsest run` of a pruning spec (a process keeping a CPU busy where
that cannot start); `busy`, only that process; `none`. It runs in a child process,

    python -m harness.bench.tui_suite --keys-child DB SPEC_DIR KEYS LOAD OUT

so that `sparsest bench` itself never loads textual.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.bench.tui_startup import build_store, measure

LOADS = ("sweep", "busy", "none")
SPEC = """name = "tui-bench"
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
BUSY = (sys.executable, "-c", "while True: pass")
STARTUPS = (("cli", "sparsest tui --db DB"), ("app", "make_app(DB).run()"))
FRAMES = (("first_frame", "start-up: first frame"), ("board_frame", "start-up: leaderboard"))


@dataclass(frozen=True)
class TuiOptions:
    """runs: the generated store's size; repeat: start-ups timed each way; keys: key
    presses timed; load: what runs meanwhile (LOADS)."""

    runs: int = 100_000
    repeat: int = 3
    keys: int = 40
    load: str = "sweep"


@dataclass(frozen=True)
class TuiRow:
    """One measure over `samples` samples (median_ms, p95_ms: None when none came)."""

    suite: str
    measure: str
    how: str
    samples: int
    median_ms: float | None
    p95_ms: float | None
    note: str


def summary(measure_name: str, how: str, seconds: Sequence[float], note: str) -> TuiRow:
    """The row of a measure from its samples, in seconds."""
    values = sorted(s * 1000 for s in seconds)
    if not values:
        return TuiRow("tui", measure_name, how, 0, None, None, note)
    p95 = (
        statistics.quantiles(values, n=20, method="inclusive")[-1] if len(values) > 1 else values[0]
    )
    return TuiRow("tui", measure_name, how, len(values), statistics.median(values), p95, note)


def tui_suite(options: TuiOptions) -> list[TuiRow]:
    if options.load not in LOADS:
        raise ValueError(f"load: choose one of {', '.join(LOADS)}")
    folder = Path(tempfile.mkdtemp(prefix="sparsest-bench-tui-"))
    try:
        db = folder / "bench.duckdb"
        build_store(db, options.runs)
        store_note = f"store of {options.runs:,} runs"
        rows = []
        for how, command in STARTUPS:
            results = [measure(db, how) for _ in range(options.repeat)]
            for name, label in FRAMES:
                seconds = [result[name] for result in results if name in result]
                missed = len(results) - len(seconds)
                note = store_note + (f"; {missed} start-ups showed none" if missed else "")
                rows.append(summary(label, command, seconds, note))
        rows.append(key_response_row(db, folder, options))
        return rows
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def key_response_row(db: Path, folder: Path, options: TuiOptions) -> TuiRow:
    """Runs the key-response child and sums up what it wrote."""
    out = folder / "keys.json"
    args = ["--keys-child", str(db), str(folder), str(options.keys), options.load, str(out)]
    try:
        result = subprocess.run(
            [sys.executable, "-m", "harness.bench.tui_suite", *args],
            capture_output=True, text=True, timeout=300 + 10 * options.keys,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return summary("key response", "app, headless", [], "the measurement timed out")
    if result.returncode != 0 or not out.exists():
        lines = (result.stderr or result.stdout).strip().splitlines()
        why = lines[-1] if lines else f"exit status {result.returncode}"
        return summary("key response", "app, headless", [], f"failed: {why}")
    data = json.loads(out.read_text())
    return summary("key response", "app, headless", data["samples"], data["note"])


# -- the child process -------------------------------------------------------------------


async def _wait(pilot: Any, predicate: Callable[[], bool], timeout: float) -> bool:
    """Let the app run until `predicate()` holds; False after `timeout` seconds."""
    deadline = time.perf_counter() + timeout
    while not predicate():
        if time.perf_counter() > deadline:
            return False
        await pilot.pause(0.05)
    return True


async def _press_keys(
    pilot: Any, table: Any, displays: list[tuple[float, int]], keys: int
) -> list[float]:
    """Press down/up on the leaderboard; each sample: key posted -> first display that
    shows the moved cursor."""
    samples = []
    for index in range(keys):
        before = table.cursor_row
        seen = len(displays)
        started = time.perf_counter()
        pilot.app.simulate_key("down" if index % 2 == 0 else "up")
        while not any(row != before for _, row in displays[seen:]):
            if time.perf_counter() - started > 10:
                raise RuntimeError("no screen update within 10 s of a key press")
            await asyncio.sleep(0.001)
        samples.append(next(t for t, row in displays[seen:] if row != before) - started)
        await asyncio.sleep(0.05)
    return samples


async def key_response(db: Path, spec_dir: Path, keys: int, load: str) -> dict[str, Any]:
    """The samples (seconds) of `keys` key presses under `load`, and a note on the load."""
    from textual.widgets import DataTable

    from tui.app import make_app

    app = make_app(db, spec_dir=spec_dir, poll_interval=1.0, preload=False)
    displays: list[tuple[float, int]] = []
    busy: subprocess.Popen[bytes] | None = None
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            table = app.screen.query_one(DataTable)
            app.post_display_hook = lambda: displays.append(  # type: ignore[method-assign]
                (time.perf_counter(), table.cursor_row)
            )
            if not await _wait(pilot, lambda: table.row_count >= 2, 120):
                raise RuntimeError("the leaderboard did not fill within 120 s")
            sweep: Any = None  # the LiveSweep under way, if any
            note = "no load"
            if load == "sweep":
                sweep = app.launch_sweep("tui-bench", SPEC)
                started = await _wait(
                    pilot, lambda: sweep.done > 0 or "pruning" in sweep.stage or not sweep.live, 120
                )
                if started and sweep.live:
                    note = "while `sparsest run` trains"
                else:
                    why = " ".join(filter(None, (sweep.status, sweep.message))) or "no start"
                    note = f"the sweep did not train ({why}), so "
                    sweep, load = None, "busy"
            if load == "busy":
                busy = subprocess.Popen(BUSY)
                note = note.replace("no load", "") + "while a process keeps a CPU busy"
            samples = await _press_keys(pilot, table, displays, keys)
            if sweep is not None:
                if not sweep.live:
                    note += f"; the sweep ended during the keys ({sweep.status})"
                await app.sweeps.cancel(sweep, grace_s=1.0)
    finally:
        if busy is not None:
            busy.kill()
            busy.wait()
    return {"samples": samples, "note": note}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=TuiOptions.runs)
    parser.add_argument("--repeat", type=int, default=TuiOptions.repeat)
    parser.add_argument("--keys", type=int, default=TuiOptions.keys)
    parser.add_argument("--load", choices=LOADS, default=TuiOptions.load)
    parser.add_argument("--keys-child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.keys_child:
        db, spec_dir, keys, load, out = args.keys_child
        data = asyncio.run(key_response(Path(db), Path(spec_dir), int(keys), load))
        Path(out).write_text(json.dumps(data))
        return
    rows = tui_suite(TuiOptions(args.runs, args.repeat, args.keys, args.load))
    print(json.dumps([dataclasses.asdict(row) for row in rows], indent=1))


if __name__ == "__main__":
    main()
