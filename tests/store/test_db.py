"""The store file: schema versions, idempotent batched writes, sweeps, bad files."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from store import queries
from store.db import RUN_COLUMNS, SCHEMA_VERSION, ResultsStore, StoreError, resolve_path
from tests.store.helpers import make_batch, make_record

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def store(tmp_path: Path) -> ResultsStore:
    store = ResultsStore(tmp_path / "results.duckdb")
    store.initialize()
    return store


def count(store: ResultsStore, table: str = "runs") -> int:
    return queries.sql(store, f"SELECT count(*) FROM {table}")[1][0][0]


def test_runs_columns_are_the_record_fields_plus_finished_at() -> None:
    columns = [name for name, _ in queries.schema_columns()["runs"]]
    assert columns == [*RUN_COLUMNS, "finished_at"]
    assert "mask" not in columns and "weights" not in columns


def test_schema_is_created_on_first_write_and_versioned(tmp_path: Path) -> None:
    path = tmp_path / "new.duckdb"
    store = ResultsStore(path)
    assert store.write_runs([make_record("a")]) == 1
    assert path.exists()
    _, rows = queries.sql(store, "SELECT value FROM meta WHERE key = 'schema_version'")
    assert rows == [(str(SCHEMA_VERSION),)]
    assert store.targets() == [0.95, 0.995]
    # a second store object on the same file finds the schema there
    assert count(ResultsStore(path)) == 1


def test_default_path_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SPARSEST_DB", raising=False)
    assert resolve_path() == Path("sparsest.duckdb")
    monkeypatch.setenv("SPARSEST_DB", "/x/y.duckdb")
    assert resolve_path() == Path("/x/y.duckdb")
    assert resolve_path("given.duckdb") == Path("given.duckdb")


def test_writing_the_same_runs_twice_is_a_no_op(store: ResultsStore) -> None:
    batch = make_batch(0, 50)
    assert store.write_runs(batch) == 50
    assert store.write_runs(batch) == 0
    assert store.write_runs([*make_batch(1, 10), *batch[:5], make_batch(1, 10)[0]]) == 10
    assert count(store) == 60
    assert count(store, "masks") == 60
    _, rows = queries.sql(store, "SELECT count(DISTINCT run_key) FROM runs")
    assert rows == [(60,)]
    assert store.write_runs([]) == 0


def test_a_run_reads_back_as_written(store: ResultsStore) -> None:
    record = make_record("abc123", target_weight_nnz=None, sweep_id=None, mask=None, weights=None)
    other = make_record("abd999", widths=(16, 8, 4), dead_neurons=(2, 0, 1), hparams="{}")
    store.write_runs([record, other])
    stored = queries.run(store, "abc123")
    assert stored is not None
    assert stored.record == record
    assert stored.record.mask is None and stored.record.weights is None
    by_prefix = queries.run(store, "abd")
    assert by_prefix is not None and by_prefix.record == other
    assert by_prefix.record.mask == other.mask and by_prefix.record.weights == other.weights
    assert queries.run(store, "zzz") is None
    with pytest.raises(StoreError, match="more than one run"):
        queries.run(store, "ab")


def test_done_keys_are_those_stored(store: ResultsStore, tmp_path: Path) -> None:
    store.write_runs(make_batch(0, 5))
    keys = [r.run_key for r in make_batch(0, 5)]
    assert store.done_keys([*keys[:3], "missing"]) == set(keys[:3])
    assert store.done_keys([]) == set()
    assert ResultsStore(tmp_path / "absent.duckdb").done_keys(keys) == set()


def test_read_runs_returns_the_records_as_written(store: ResultsStore, tmp_path: Path) -> None:
    batch = make_batch(0, 6)
    store.write_runs(batch)
    wanted = [batch[4].run_key, "missing", batch[1].run_key]
    assert store.read_runs(wanted) == [batch[4], batch[1]]
    assert store.read_runs(wanted)[0].weights == batch[4].weights
    assert store.read_runs([]) == []
    assert ResultsStore(tmp_path / "absent.duckdb").read_runs(wanted) == []


def test_sweeps(store: ResultsStore) -> None:
    first = store.create_sweep("quick", '{"epochs": 5}')
    second = store.create_sweep("paper-95", "{}")
    assert second == first + 1
    store.write_runs([make_record("a", sweep_id=first), make_record("b", sweep_id=first)])
    store.set_sweep_status(first, "done")
    sweeps = store.list_sweeps()
    assert [(s.id, s.name, s.status, s.runs) for s in sweeps] == [
        (first, "quick", "done", 2),
        (second, "paper-95", "running", 0),
    ]
    assert sweeps[0].spec == '{"epochs": 5}'
    with pytest.raises(StoreError, match="not valid JSON"):
        store.create_sweep("bad", "{epochs")
    with pytest.raises(StoreError, match="choose one of"):
        store.set_sweep_status(first, "finished")
    with pytest.raises(StoreError, match="no sweep with id 99"):
        store.set_sweep_status(99, "done")


def test_targets_can_be_added(store: ResultsStore) -> None:
    store.add_targets([0.9, 0.95])
    assert store.targets() == [0.9, 0.95, 0.995]
    with pytest.raises(StoreError, match="fractions"):
        store.add_targets([95])


def test_a_failed_batch_writes_nothing(store: ResultsStore) -> None:
    bad = make_record("bad", weight_nnz=None)  # type: ignore[arg-type]
    with pytest.raises(StoreError, match="NOT NULL"):
        store.write_runs([make_record("good"), bad])
    assert count(store) == 0 and count(store, "masks") == 0


def test_not_a_duckdb_file_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "notes.duckdb"
    path.write_text("these are my notes\n" * 100)
    for action in (
        ResultsStore(path).initialize,
        lambda: queries.sql(ResultsStore(path), "SELECT 1"),
    ):
        with pytest.raises(StoreError, match="is not a DuckDB database") as error:
            action()
        assert "\n" not in str(error.value)
    assert path.read_text() == "these are my notes\n" * 100


def test_a_newer_schema_is_refused(store: ResultsStore) -> None:
    with duckdb.connect(str(store.path)) as conn:
        conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    for action in (
        lambda s: s.write_runs([make_record("a")]),
        lambda s: queries.leaderboard(s),
    ):
        with pytest.raises(StoreError, match="schema version 99, newer"):
            action(ResultsStore(store.path))


def test_a_foreign_duckdb_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.duckdb"
    with duckdb.connect(str(path)) as conn:
        conn.execute("CREATE TABLE runs (x INTEGER)")
    with pytest.raises(StoreError, match="not a sparsest results store"):
        ResultsStore(path).write_runs([make_record("a")])
    with pytest.raises(StoreError, match="not a sparsest results store"):
        queries.leaderboard(ResultsStore(path))


def test_an_empty_duckdb_file_is_not_a_store_to_a_reader_but_becomes_one_when_written(
    tmp_path: Path,
) -> None:
    path = tmp_path / "empty.duckdb"
    duckdb.connect(str(path)).close()
    with pytest.raises(StoreError, match="empty DuckDB database"):
        queries.leaderboard(ResultsStore(path))
    ResultsStore(path).write_runs([make_record("a")])
    assert queries.leaderboard(ResultsStore(path))


def test_unwritable_and_missing_paths(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(StoreError, match=r"cannot open .* for writing"):
        ResultsStore(blocker / "results.duckdb").initialize()
    with pytest.raises(StoreError, match="no results store at"):
        queries.leaderboard(ResultsStore(tmp_path / "absent.duckdb"))
    assert not (tmp_path / "absent.duckdb").exists()


def test_a_lock_held_too_long_is_a_one_line_error(store: ResultsStore) -> None:
    holder = duckdb.connect(str(store.path))  # this process, read-write: readers must wait
    try:
        started = time.monotonic()
        with pytest.raises(StoreError, match="busy") as error:
            queries.sql(ResultsStore(store.path, lock_timeout=0.2), "SELECT 1")
        assert 0.2 <= time.monotonic() - started < 2
        assert "\n" not in str(error.value)
    finally:
        holder.close()


@pytest.mark.parametrize("holder_read_only", [False, True])
def test_a_reader_or_writer_waits_for_another_process(
    store: ResultsStore, holder_read_only: bool
) -> None:
    """A writer holding the file delays a reader; a reader holding it delays a writer."""
    hold = (
        "import duckdb, sys, time; "
        f"c = duckdb.connect(sys.argv[1], read_only={holder_read_only}); "
        "print('held', flush=True); time.sleep(0.5); c.close()"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", hold, str(store.path)], stdout=subprocess.PIPE, text=True
    )
    waiting = ResultsStore(store.path, lock_timeout=10)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        started = time.monotonic()
        if holder_read_only:
            assert waiting.write_runs([make_record("a")]) == 1
        else:
            assert count(waiting) == 0
        waited = time.monotonic() - started
    finally:
        holder.wait(timeout=10)
    assert waited > 0.2
