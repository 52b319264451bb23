"""`sparsest sql` is read-only for real (issue 14): no other file read or written, no
ATTACH, no extensions, no settings; read commands never write; `export` writes its one
file, from one SELECT; a killed sweep reads as `interrupted` in plain SQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from store import queries
from store.db import ResultsStore, StoreError
from tests.store.helpers import make_record, refused, run_cli

ROOT = Path(__file__).resolve().parents[2]


def _store(path: Path, runs: int = 3) -> Path:
    ResultsStore(path).write_runs([make_record(f"k{i}") for i in range(runs)])
    return path


def _count(path: Path) -> int:
    with duckdb.connect(str(path), read_only=True) as conn:
        return int(conn.execute("SELECT count(*) FROM runs").fetchall()[0][0])


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return _store(tmp_path / "results.duckdb")


@pytest.fixture
def other(tmp_path: Path) -> Path:
    """Another results store next to it, the target of the hostile queries."""
    return _store(tmp_path / "other.duckdb", runs=5)


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # relative paths in the queries land here, if anywhere


READS = [
    "SELECT * FROM read_csv('/etc/passwd')",
    "SELECT * FROM read_text('/etc/passwd')",
    "SELECT * FROM read_blob('/etc/passwd')",
    "SELECT * FROM glob('/etc/*')",
]


@pytest.mark.parametrize("query", READS)
def test_sql_reads_no_other_file(capsys: pytest.CaptureFixture[str], db: Path, query: str) -> None:
    line = refused(capsys, "sql", query, "--db", str(db))
    assert "disabled by configuration" in line
    assert "root:" not in line


def test_sql_copy_writes_no_file(
    capsys: pytest.CaptureFixture[str], db: Path, other: Path, tmp_path: Path
) -> None:
    before = other.read_bytes()
    refused(capsys, "sql", "COPY runs TO 'x.csv'", "--db", str(db))
    refused(capsys, "sql", f"COPY (SELECT 1) TO '{other}' (FORMAT csv)", "--db", str(db))
    refused(capsys, "sql", "COPY (SELECT 1) TO 'other.duckdb' (FORMAT csv)", "--db", str(db))
    refused(capsys, "sql", "EXPORT DATABASE 'dump'", "--db", str(db))
    assert not (tmp_path / "x.csv").exists() and not (tmp_path / "dump").exists()
    assert other.read_bytes() == before and _count(other) == 5


def test_sql_attach_cannot_reach_another_store_or_the_store_itself(
    capsys: pytest.CaptureFixture[str], db: Path, other: Path, tmp_path: Path
) -> None:
    link = tmp_path / "same-store.duckdb"
    os.link(db, link)  # a hard link: another name for the store's own file
    for target in (other, link, Path("other.duckdb")):
        refused(
            capsys, "sql", f"ATTACH '{target}' AS e (READ_WRITE); DELETE FROM e.runs",
            "--db", str(db),
        )  # fmt: skip
    assert _count(other) == 5 and _count(db) == 3


@pytest.mark.parametrize(
    "query",
    ["INSTALL httpfs", "LOAD httpfs", "LOAD '/tmp/x.duckdb_extension'", "SET threads = 1",
     "SET enable_external_access = true", "RESET lock_configuration", "PRAGMA threads = 1"],
)  # fmt: skip
def test_sql_loads_no_extension_and_changes_no_setting(
    capsys: pytest.CaptureFixture[str], db: Path, query: str
) -> None:
    line = refused(capsys, "sql", query, "--db", str(db))
    assert "disabled" in line or "locked" in line


def test_sql_still_reads_the_store(capsys: pytest.CaptureFixture[str], db: Path) -> None:
    result = run_cli(capsys, "sql", "SELECT count(*) AS n FROM runs", "--csv", "--db", str(db))
    assert (result.code, result.out) == (0, "n\n3\n")


@pytest.mark.parametrize("empty", ["zero-bytes", "fresh-duckdb"])
@pytest.mark.parametrize("command", [["sql", "SELECT 1"], ["leaderboard"], ["frontier"]])
def test_read_commands_never_write(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, empty: str, command: list[str]
) -> None:
    path = tmp_path / f"{empty}.duckdb"
    if empty == "zero-bytes":
        path.write_bytes(b"")
    else:
        duckdb.connect(str(path)).close()
    before = path.read_bytes()
    line = refused(capsys, *command, "--db", str(path))
    assert "not a DuckDB database" in line or "empty DuckDB database" in line
    assert path.read_bytes() == before
    if empty == "fresh-duckdb":
        with duckdb.connect(str(path), read_only=True) as conn:
            assert conn.execute("SELECT count(*) FROM duckdb_tables()").fetchall() == [(0,)]


# -- export ---------------------------------------------------------------------------


def test_export_query_is_one_select_never_pasted_into_copy(
    capsys: pytest.CaptureFixture[str], db: Path, tmp_path: Path
) -> None:
    evil = tmp_path / "evil.csv"
    out = tmp_path / "out.csv"
    for query in (
        f"SELECT 1) TO '{evil}' (FORMAT csv); --",
        f"SELECT 1; COPY runs TO '{evil}'",
        f"COPY runs TO '{evil}'",
        "DELETE FROM runs",
        f"SELECT * FROM read_csv('{db}')",
    ):
        line = refused(capsys, "export", str(out), "--query", query, "--db", str(db))
        assert "wrote" not in line
    assert not evil.exists() and not out.exists() and _count(db) == 3


def test_export_a_select_a_view_and_refuse_to_overwrite(
    capsys: pytest.CaptureFixture[str], db: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out.csv"
    query = "WITH k AS (SELECT run_key FROM runs) SELECT * FROM k ORDER BY 1"
    result = run_cli(capsys, "export", str(out), "-q", query, "--db", str(db))
    assert result.code == 0 and "wrote 3 rows" in result.out
    assert out.read_text() == "run_key\nk0\nk1\nk2\n"
    line = refused(capsys, "export", str(out), "-q", "leaderboard", "--db", str(db))
    assert "exists" in line and "--force" in line
    assert out.read_text() == "run_key\nk0\nk1\nk2\n"
    forced = run_cli(capsys, "export", str(out), "--force", "-q", "targets", "--db", str(db))
    assert forced.code == 0 and out.read_text().startswith("target\n")


def test_export_never_over_the_store_by_any_name(
    capsys: pytest.CaptureFixture[str], db: Path, tmp_path: Path
) -> None:
    link = tmp_path / "same.csv"
    os.link(db, link)
    symlink = tmp_path / "sym.csv"
    symlink.symlink_to(db)
    before = db.read_bytes()
    for target in (db, link, symlink):
        line = refused(capsys, "export", str(target), "-f", "csv", "--force", "--db", str(db))
        assert "store itself" in line
    assert db.read_bytes() == before and _count(db) == 3


def test_export_to_a_full_device_is_one_plain_line(
    capsys: pytest.CaptureFixture[str], db: Path
) -> None:
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full here")
    line = refused(capsys, "export", "/dev/full", "-f", "json", "--db", str(db))
    assert line == "error: cannot write /dev/full: No space left on device"


# -- a killed sweep, in plain SQL -----------------------------------------------------

SWEEP_OWNER = """
import sys, time
from store.db import ResultsStore
ResultsStore(sys.argv[1]).start_sweep("quick", "{}")
print("started", flush=True)
time.sleep(120)
"""


def _sweep_status(capsys: pytest.CaptureFixture[str], db: Path) -> str:
    result = run_cli(capsys, "sql", "SELECT status FROM sweeps", "--csv", "--db", str(db))
    assert result.code == 0, result
    return result.out.splitlines()[1]


def test_sql_says_interrupted_after_a_sigkill_and_running_while_alive(
    capsys: pytest.CaptureFixture[str], db: Path
) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", SWEEP_OWNER, str(db)], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None and child.stdout.readline() == "started\n"
        assert _sweep_status(capsys, db) == "running"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert _sweep_status(capsys, db) == "interrupted"
    assert [s.status for s in ResultsStore(db).list_sweeps()] == ["interrupted"]
    with ResultsStore(db).read() as conn:  # the stored row is corrected by the next sweep
        assert conn.execute("SELECT status FROM sweeps").fetchall() == [("running",)]


# -- corrupt files --------------------------------------------------------------------


def _truncated(db: Path, size: int) -> Path:
    out = db.with_name(f"cut-{size}.duckdb")
    out.write_bytes(db.read_bytes()[:size])
    return out


@pytest.mark.parametrize("size", [5000, 524288, 786432])  # in the header, catalog, data
@pytest.mark.parametrize("command", [["sql", "SELECT count(*) FROM runs"], ["leaderboard"]])
def test_a_truncated_store_is_one_line_exit_2(
    capsys: pytest.CaptureFixture[str], db: Path, size: int, command: list[str]
) -> None:
    cut = _truncated(db, size)
    assert "is truncated or corrupt" in refused(capsys, *command, "--db", str(cut))


def test_a_store_truncated_in_its_catalog_is_named_corrupt(db: Path) -> None:
    cut = _truncated(db, 524288)
    with pytest.raises(StoreError, match="truncated or corrupt") as error:
        queries.sql(ResultsStore(cut), "SELECT 1")
    assert "\n" not in str(error.value)


# -- the store's size (store/SCHEMA.md) -----------------------------------------------


def test_a_small_commit_costs_at_most_two_blocks(tmp_path: Path) -> None:
    """Each commit seals about one 256 KB block per table it appends to (runs, masks),
    as store/SCHEMA.md says: 10 more commits of 32 runs add at most 10 x 0.6 MB."""
    store = ResultsStore(tmp_path / "small.duckdb")

    def commits(first: int, count: int) -> int:
        for batch in range(first, first + count):
            store.write_runs([make_record(f"b{batch}-{i}", mask=b"\xff" * 4) for i in range(32)])
        return store.path.stat().st_size

    before = commits(0, 5)
    after = commits(5, 10)
    assert after - before <= 10 * 600_000
