"""Records for the store tests, and a writer the concurrency tests run in a subprocess:

    python -m tests.store.helpers DB FIRST_BATCH BATCHES BATCH_SIZE SLEEP_S

writes batches FIRST_BATCH.. of BATCH_SIZE runs each (seed = batch number) and prints
`committed BATCH INSERTED` after each commit.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, replace
from typing import Any

import pytest

from store.db import ResultsStore
from store.records import RunRecord

ALGORITHMS = ("imp", "snip", "synflow")


def make_record(run_key: str = "k", **overrides: Any) -> RunRecord:
    """A pruning run at width 3 reaching 96%, with a mask and weights; override any field."""
    record = RunRecord(
        run_key=run_key,
        kind="prune",
        algorithm="snip",
        dataset="cubist-spiral",
        widths=(3, 3, 3),
        init_mode="random",
        seed=0,
        lr=0.1,
        schedule="cosine",
        epochs=50,
        target_weight_nnz=20,
        weight_nnz=20,
        model_nnz=27,
        effective_nnz=18,
        dead_neurons=(0, 1, 0),
        accuracy=0.96,
        final_loss=0.12,
        diverged=False,
        device="cpu",
        wall_seconds=1.5,
        sweep_id=None,
        hparams='{"steps": 10}',
        mask=b"\xff\x0f",
        weights=b"\x00\x00\x80?" * 4,
    )
    return replace(record, **overrides)


def make_batch(batch: int, size: int) -> list[RunRecord]:
    """Batch `batch` of the writer: `size` runs with seed = batch, keys unique across batches."""
    records = []
    for i in range(size):
        n = batch * size + i
        records.append(
            make_record(
                f"b{batch:05d}-{i:05d}",
                kind="search-phase2" if i % 4 == 0 else "prune",
                algorithm="mask" if i % 4 == 0 else ALGORITHMS[i % 3],
                seed=batch,
                weight_nnz=15 + n % 40,
                target_weight_nnz=None if i % 4 == 0 else 15 + n % 40,
                accuracy=0.9 + (n % 97) / 1000,
                mask=bytes([n % 256]) * 8,
                weights=bytes(4 * 70),
            )
        )
    return records


@dataclass(frozen=True)
class CliResult:
    """What `sparsest ARGS` did, run in this process through its entry point."""

    code: int
    out: str
    err: str


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> CliResult:
    """Run `sparsest ARGS` as a user would (harness.cli.main.main: one-line errors, exit
    codes); capsys collects its output."""
    from harness.cli.main import main as sparsest

    capsys.readouterr()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sys, "argv", ["sparsest", *args])
        patch.setenv("COLUMNS", "200")
        try:
            sparsest()
            code = 0
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 1
    captured = capsys.readouterr()
    return CliResult(code, captured.out, captured.err)


def refused(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """Run `sparsest ARGS`, check it failed as bad input does (exit 2, one `error:` line
    on stderr, nothing else), and return that line."""
    result = run_cli(capsys, *args)
    assert result.code == 2, result
    lines = result.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result
    assert "Traceback" not in result.out + result.err
    return lines[0]


def main(argv: list[str]) -> None:
    db, first, batches, size, sleep = argv
    store = ResultsStore(db, lock_timeout=20)
    for batch in range(int(first), int(first) + int(batches)):
        inserted = store.write_runs(make_batch(batch, int(size)))
        print(f"committed {batch} {inserted} {store.last_lock_seconds:.4f}", flush=True)
        time.sleep(float(sleep))


if __name__ == "__main__":
    main(sys.argv[1:])
