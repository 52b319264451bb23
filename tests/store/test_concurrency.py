"""Another process reads while a sweep writes; SIGKILL loses at most the batch in flight."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from store import queries
from store.db import ResultsStore
from tests.store.helpers import make_batch

ROOT = Path(__file__).resolve().parents[2]


def start_writer(
    db: Path, first: int, batches: int, size: int, sleep: float
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.store.helpers",
            str(db),
            str(first),
            str(batches),
            str(size),
            str(sleep),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )


def batch_sizes(store: ResultsStore) -> dict[int, int]:
    """seed (= the writer's batch number) -> runs stored with it."""
    _, rows = queries.sql(store, "SELECT seed, count(*) FROM runs GROUP BY seed")
    return dict(rows)


def test_reads_succeed_while_another_process_writes(tmp_path: Path) -> None:
    db = tmp_path / "results.duckdb"
    ResultsStore(db).initialize()
    batches, size = 24, 256
    writer = start_writer(db, 0, batches, size, sleep=0.05)
    reader = ResultsStore(db, lock_timeout=10)
    seen = []
    while writer.poll() is None:
        _, rows = queries.sql(reader, "SELECT count(*), count(DISTINCT run_key) FROM runs")
        total, distinct = rows[0]
        assert total == distinct and total % size == 0
        assert all(len(row.algorithm) for row in queries.leaderboard(reader))
        seen.append(total)
    assert writer.wait() == 0
    assert writer.stdout is not None
    lines = writer.stdout.read().splitlines()
    assert len(lines) == batches and all(line.split()[2] == str(size) for line in lines)
    assert seen == sorted(seen)
    assert len({n for n in seen if 0 < n < batches * size}) >= 3  # reads interleaved with writes
    assert batch_sizes(reader) == dict.fromkeys(range(batches), size)


def test_sigkill_mid_sweep_loses_at_most_the_batch_in_flight(tmp_path: Path) -> None:
    db = tmp_path / "results.duckdb"
    ResultsStore(db).initialize()
    batches, size = 24, 128
    for committed_before_kill, delay in ((2, 0.0), (1, 0.013), (3, 0.031)):
        done = len(batch_sizes(ResultsStore(db)))
        writer = start_writer(db, done, batches - done, size, sleep=0.0)
        assert writer.stdout is not None
        for _ in range(committed_before_kill):
            assert writer.stdout.readline().startswith("committed")
        time.sleep(delay)
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait()
        store = ResultsStore(db)  # the file still opens, and holds whole batches only
        sizes = batch_sizes(store)
        assert set(sizes) == set(range(len(sizes))) and set(sizes.values()) == {size}
        assert len(sizes) >= done + committed_before_kill
        _, rows = queries.sql(store, "SELECT count(*) FROM masks")
        assert rows == [(len(sizes) * size,)]

    present = len(batch_sizes(ResultsStore(db)))
    rerun = start_writer(db, 0, batches, size, sleep=0.0)
    out, _ = rerun.communicate(timeout=60)
    assert rerun.returncode == 0
    inserted = sum(int(line.split()[2]) for line in out.splitlines())
    assert inserted == (batches - present) * size

    expected = {r.run_key for b in range(batches) for r in make_batch(b, size)}
    _, rows = queries.sql(ResultsStore(db), "SELECT run_key FROM runs")
    keys = [row[0] for row in rows]
    assert len(keys) == len(set(keys)) == batches * size
    assert set(keys) == expected
