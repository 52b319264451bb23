"""Start-up benchmark: `sparsest tui` to first paint on a store with 100,000 runs.

    python -m harness.bench.tui_startup [--runs 100000] [--db PATH] [--repeat 3]

Builds the store with one DuckDB bulk insert of generated rows (a few seconds), then
starts the app in a fresh Python process on a pseudo-terminal of 120 x 40, as a user's
terminal would run it, both through the CLI (`sparsest tui --db DB`) and directly
(`make_app(DB).run()`), and times from the process launch to (a) the first frame the
app writes and (b) the first frame showing the leaderboard computed from all the runs.
The issue's target for (a) through the CLI is under 2 s.
`sparsest bench --suite tui` (harness.bench.tui_suite) reports these figures.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import pty
import select
import statistics
import struct
import sys
import tempfile
import termios
import time
from pathlib import Path

ALGORITHMS = ("imp", "lth", "snip", "iter-snip", "force", "grasp", "synflow", "prospr", "rigl")
WIDTHS = (3, 4, 5, 6, 7, 8, 16, 32, 64, 128, 256)
NNZ = (15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 30, 33, 37, 40, 44, 50, 53, 55, 57, 60, 65)


def build_store(path: Path, runs: int) -> float:
    """A store of `runs` generated runs (20% phase 1, 10% phase 2, 70% pruning); the
    accuracies are a smooth function of weight nnz plus hashed noise. Returns seconds."""
    import duckdb

    from store.db import ResultsStore

    started = time.perf_counter()
    if path.exists():
        path.unlink()
    store = ResultsStore(path)
    store.initialize()
    sweep_id = store.create_sweep("bench", json.dumps({"name": "bench"}))
    phase1, phase2 = runs // 5, runs // 10
    algorithms = "['" + "','".join(ALGORITHMS) + "']"
    widths = "[" + ",".join(map(str, WIDTHS)) + "]"
    nnz = "[" + ",".join(map(str, NNZ)) + "]"
    conn = duckdb.connect(str(path))
    try:
        conn.execute(f"""
        INSERT INTO runs
        WITH base AS (
            SELECT i,
                   CASE WHEN i < {phase1} THEN 'search-phase1'
                        WHEN i < {phase1 + phase2} THEN 'search-phase2' ELSE 'prune' END AS kind,
                   hash(i) % 1000 / 1000.0 AS noise
            FROM range({runs}) t(i)
        ),
        shaped AS (
            SELECT *,
                CASE kind
                    WHEN 'search-phase1' THEN [1 + i % 16, 1 + (i // 16) % 16, 1 + (i // 256) % 16]
                    WHEN 'search-phase2' THEN [4, 4, 4]
                    ELSE list_value({widths}[1 + (i // 9) % 11], {widths}[1 + (i // 9) % 11],
                                    {widths}[1 + (i // 9) % 11]) END AS w,
                CASE kind WHEN 'prune' THEN {nnz}[1 + (i // 99) % 23] END AS target
            FROM base
        ),
        counted AS (
            SELECT *,
                CASE kind
                    WHEN 'search-phase1' THEN 2 * w[1] + w[1] * w[2] + w[2] * w[3] + w[3]
                    WHEN 'search-phase2' THEN 12 + i % 28
                    ELSE target END AS nnz_
            FROM shaped
        )
        SELECT md5(i::VARCHAR)[:20], kind,
               CASE kind WHEN 'search-phase1' THEN 'dense' WHEN 'search-phase2' THEN 'mask'
                         ELSE {algorithms}[1 + i % 9] END,
               'cubist-spiral', w, CASE WHEN i % 7 = 0 THEN 'fixed' ELSE 'random' END,
               i % 3, [0.05, 0.1, 0.2][1 + i % 3],
               ['cosine', 'multistep', 'constant'][1 + (i // 3) % 3],
               50, target, nnz_, nnz_ + 3, nnz_ - (i % 4), [0, i % 2, 0],
               least(0.999, 0.5 - 0.04 * noise + 0.5 * (1 - exp(
                   -nnz_ / (CASE kind WHEN 'prune' THEN 20.0 ELSE 12.0 END)))),
               0.1 + noise / 10, false, 'cpu', 1.0 + noise, {sweep_id}, '{{}}', now()::TIMESTAMP
        FROM counted
        """)
    finally:
        conn.close()
    store.set_sweep_status(sweep_id, "done")
    return time.perf_counter() - started


def child(how: str, db: str, out: str) -> None:
    """Runs in the measured process: the app (`how` = app: make_app(db).run(); cli: the
    `sparsest tui --db DB` command), hooked to note its first frames."""
    from textual.widgets import DataTable

    from tui.app import SparsestApp, make_app

    marks: dict[str, float] = {}

    def displayed(app: SparsestApp) -> None:
        now = time.time()
        marks.setdefault("first_frame", now)
        screen = app.screen
        tables = screen.query(DataTable) if screen.is_mounted else []
        if "board_frame" not in marks and tables and tables.first().row_count > 0:
            marks["board_frame"] = now
            Path(out).write_text(json.dumps(marks))
            app.exit()

    SparsestApp.post_display_hook = displayed  # type: ignore[method-assign, assignment]
    if how == "cli":
        from harness.cli.main import main

        sys.argv = ["sparsest", "tui", "--db", db]
        main()
    else:
        make_app(db).run()


def measure(db: Path, how: str, width: int = 120, height: int = 40) -> dict[str, float]:
    """Seconds from launching the child process on a pty to its first frame and to its
    first frame with the leaderboard filled."""
    out = Path(tempfile.mkstemp(suffix=".json")[1])
    started = time.time()
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(
            sys.executable,
            [sys.executable, "-m", "harness.bench.tui_startup", "--child", how, str(db), str(out)],
        )
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))
    deadline = started + 60
    while time.time() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            try:
                if not os.read(fd, 65536):
                    break
            except OSError:
                break
        if os.waitpid(pid, os.WNOHANG)[0]:
            break
    else:
        os.kill(pid, 9)
    os.close(fd)
    marks = json.loads(out.read_text() or "{}")
    out.unlink()
    return {name: at - started for name, at in marks.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--db", type=Path, default=None)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    db = args.db or Path(tempfile.mkdtemp(prefix="sparsest-bench-")) / "bench.duckdb"
    seconds = build_store(db, args.runs)
    print(f"built {db} with {args.runs:,} runs in {seconds:.1f} s")
    for how, what in (("cli", "sparsest tui --db DB"), ("app", "make_app(DB).run()")):
        results = [measure(db, how) for _ in range(args.repeat)]
        for name in ("first_frame", "board_frame"):
            values = [r[name] for r in results if name in r]
            if values:
                print(
                    f"{what}: {name} median {statistics.median(values):.2f} s "
                    f"(runs: {', '.join(f'{v:.2f}' for v in values)})"
                )


if __name__ == "__main__":
    main()
