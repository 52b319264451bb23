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
    """After each commit the writer reports, a read in this process succeeds and sees
    whole batches only, at least the ones committed so far; at the end every run of
    every batch is stored, once. (Outcomes only: how reads and writes interleave is up to
    the scheduler.)"""
    db = tmp_path / "results.duckdb"
    ResultsStore(db).initialize()
    batches, size = 24, 256
    writer = start_writer(db, 0, batches, size, sleep=0.05)
    assert writer.stdout is not None
    reader = ResultsStore(db, lock_timeout=10)
    seen = []
    for line in writer.stdout:
        _, batch, inserted, _ = line.split()
        assert inserted == str(size)
        _, rows = queries.sql(reader, "SELECT count(*), count(DISTINCT run_key) FROM runs")
        total, distinct = rows[0]
        assert total == distinct and total % size == 0  # no duplicate, no partial batch
        assert total >= (int(batch) + 1) * size  # no committed write lost to the reader
        assert all(len(row.algorithm) for row in queries.leaderboard(reader))
        seen.append(total)
    assert writer.wait() == 0
    assert len(seen) == batches  # one successful read after every commit
    assert seen == sorted(seen)  # a later read never sees fewer runs
    assert batch_sizes(reader) == dict.fromkeys(range(batches), size)
    _, rows = queries.sql(reader, "SELECT count(*), count(DISTINCT run_key) FROM runs")
    assert rows == [(batches * size, batches * size)]


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
