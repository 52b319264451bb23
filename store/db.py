"""The results store: one DuckDB file, a versioned schema, batched idempotent writes.

DuckDB lets one process hold a file read-write, or any number of processes hold it
read-only, never both at once. So no connection here outlives one operation: a writer
opens the file, commits one batch and closes it; a reader opens it read-only, queries and
closes it. While the other side holds the file, each retries for up to `lock_timeout`
seconds. A batch commit of 512 runs holds the file for 0.1-0.3 s on a busy 2-core VM
(store/SCHEMA.md has the measurements), so a sweep writing a batch every few seconds
leaves it free most of the time.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path

import duckdb

from store.owner import Owner
from store.records import RunRecord

SCHEMA_VERSION = 2
DEFAULT_DB = "sparsest.duckdb"
DB_ENV_VAR = "SPARSEST_DB"
SWEEP_STATUSES = ("running", "done", "failed", "cancelled", "interrupted")
UNFINISHED_STATUSES = ("interrupted", "cancelled", "failed")
"""Statuses of a sweep that a rerun of the same spec resumes (ResultsStore.start_sweep)."""

RUN_COLUMNS: tuple[str, ...] = tuple(
    f.name for f in fields(RunRecord) if f.name not in ("mask", "weights")
)
"""The `runs` columns filled from a RunRecord, in table order (finished_at follows)."""

RECORD_SELECT = (
    "SELECT "
    + ", ".join(f"r.{name}" for name in RUN_COLUMNS)
    + ", m.mask, m.weights, r.finished_at FROM runs r LEFT JOIN masks m ON m.run_key = r.run_key"
)
"""A query prefix whose rows `record_from_row` turns back into (RunRecord, finished_at)."""

READ_CONFIG: dict[str, str | bool] = {
    "enable_external_access": False,
    "autoload_known_extensions": False,
    "autoinstall_known_extensions": False,
    "lock_configuration": True,
}
"""Every read-only connection's settings (any SQL a user types runs on one): no file but
the store (no read_csv, COPY, ATTACH, INSTALL), no extension loads, no SET. DuckDB keeps
one instance per file and process, so every reader shares these to share it."""

_EXPORT_CONFIG: dict[str, str | bool] = {
    k: v
    for k, v in READ_CONFIG.items()
    if k not in ("enable_external_access", "lock_configuration")
}
"""An export's reader starts from these, allows its one file, then locks as READ_CONFIG."""

_MIGRATIONS: dict[int, str] = {1: "schema.sql", 2: "schema_v2.sql"}
"""Schema version -> the SQL resource that brings the previous version up to it."""


def schema_script(version: int) -> str:
    """The SQL that brings a store from `version - 1` up to `version`."""
    return resources.files("store").joinpath(_MIGRATIONS[version]).read_text()


class StoreError(Exception):
    """The store cannot do what was asked; the message is one line, fit for a user."""


def resolve_path(path: str | os.PathLike[str] | None = None) -> Path:
    """The store file: `path`, else $SPARSEST_DB, else ./sparsest.duckdb."""
    return Path(path or os.environ.get(DB_ENV_VAR) or DEFAULT_DB)


def first_line(error: BaseException) -> str:
    """DuckDB messages carry a caret diagram and hints on later lines; keep the first."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def record_from_row(row: Sequence[object]) -> tuple[RunRecord, datetime]:
    """A RECORD_SELECT row as the RunRecord that was written, and when it was committed."""
    *values, finished_at = (tuple(v) if isinstance(v, list) else v for v in row)
    return RunRecord(*values), finished_at  # type: ignore[arg-type, return-value]


def owner_key(sweep_id: int) -> str:
    """The `meta` key that holds the process (store.owner.Owner) that last ran a sweep."""
    return f"sweep:{sweep_id}:owner"


_OWNER_JOIN = "LEFT JOIN meta o ON o.key = 'sweep:' || s.id || ':owner'"


def _status(status: str, owner: str | None) -> str:
    """A `running` sweep whose process is gone (as far as this host can tell) is
    `interrupted`: it was killed before it could say so."""
    if status == "running" and owner is not None:
        found = Owner.from_json(owner)
        if found is not None and found.is_gone():
            return "interrupted"
    return status


def sweep_statuses(conn: duckdb.DuckDBPyConnection) -> list[tuple[int, str]]:
    """Every sweep's id and status, oldest first, a killed one as `interrupted`."""
    rows = conn.execute(
        f"SELECT s.id, s.status, o.value FROM sweeps s {_OWNER_JOIN} ORDER BY s.id"
    ).fetchall()
    return [(int(i), _status(status, owner)) for i, status, owner in rows]


def resolve_sweeps_on_read(conn: duckdb.DuckDBPyConnection) -> None:
    """Make `sweeps` in this (read-only) connection's SQL say `interrupted` for a killed
    sweep, as list_sweeps does: a temporary view of that name, over the table, in front
    of it. Only this connection sees it; the stored row is corrected by the next sweep."""
    gone = [i for i, status in sweep_statuses(conn) if status == "interrupted"]
    database = str(conn.execute("SELECT current_database()").fetchall()[0][0])
    catalog = '"' + database.replace('"', '""') + '"'
    ids = ", ".join(str(int(i)) for i in gone) or "NULL"
    conn.execute(
        "CREATE TEMP VIEW sweeps AS SELECT * REPLACE (CASE WHEN status = 'running' AND id IN "
        f"({ids}) THEN 'interrupted' ELSE status END AS status) FROM {catalog}.main.sweeps"
    ).fetchall()


def _claim(conn: duckdb.DuckDBPyConnection, sweep_id: int) -> None:
    """Record this process as the sweep's owner."""
    conn.execute(
        "INSERT INTO meta VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [owner_key(sweep_id), Owner.current().to_json()],
    )


def _is_corrupt(message: str) -> bool:
    """Whether a DuckDB error says the file is cut short or damaged."""
    return "Could not read enough bytes" in message or "Corrupt database file" in message


def _utc_now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _is_busy(error: duckdb.Error) -> bool:
    """Another process (or, in this process, a connection of the other mode) holds the file."""
    message = str(error)
    return "Could not set lock" in message or "different configuration" in message


@dataclass(frozen=True)
class SweepRow:
    """One row of `sweeps`, with the number of runs it wrote. created: UTC."""

    id: int
    name: str
    spec: str
    created: datetime
    status: str
    runs: int


class ResultsStore:
    """A DuckDB results file. Cheap to construct; opens the file only inside operations.

    lock_timeout: seconds to keep retrying while another process holds the file.
    last_lock_seconds: how long the last write transaction held the file, from the
    connect that got the lock to the close that released it.
    """

    def __init__(
        self, path: str | os.PathLike[str] | None = None, *, lock_timeout: float = 30.0
    ) -> None:
        self.path = resolve_path(path)
        self.lock_timeout = lock_timeout
        self.last_lock_seconds = 0.0
        self._ready = False
        self._attempt_started = 0.0

    def __repr__(self) -> str:
        return f"ResultsStore({str(self.path)!r})"

    # -- connections ---------------------------------------------------------------

    def _connect(self, read_only: bool, write_to: Path | None = None) -> duckdb.DuckDBPyConnection:
        """A connection to the store; a read-only one is sandboxed (READ_CONFIG), and may
        write the one file `write_to` (an export)."""
        config = {} if not read_only else READ_CONFIG if write_to is None else _EXPORT_CONFIG
        deadline = time.monotonic() + self.lock_timeout
        delay = 0.002
        while True:
            self._attempt_started = time.perf_counter()
            try:
                conn = duckdb.connect(str(self.path), read_only=read_only, config=config)
                return conn if write_to is None else _allow_only(conn, write_to)
            except duckdb.Error as error:
                if not _is_busy(error):
                    raise self._open_error(error, read_only) from None
                if time.monotonic() >= deadline:
                    holder = str(error).split("Conflicting lock is held in ")[-1]
                    holder = holder.split(". ")[0] if holder != str(error) else "this process"
                    raise StoreError(
                        f"{self.path} is busy: held by {holder} for more than "
                        f"{self.lock_timeout:g} s"
                    ) from None
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 0.05)

    def _open_error(self, error: duckdb.Error, read_only: bool) -> StoreError:
        message = first_line(error)
        if "not a valid DuckDB database" in message:
            return StoreError(f"{self.path} is not a DuckDB database")
        if _is_corrupt(message):
            return StoreError(f"{self.path} is truncated or corrupt: {message}")
        if read_only and "does not exist" in message:
            return StoreError(f"no results store at {self.path} (run a sweep, or pass --db)")
        if "Cannot open" in message or "Permission denied" in message:
            reason = message.rsplit(": ", 1)[-1]
            return StoreError(f"cannot open {self.path} for writing: {reason}")
        return StoreError(f"cannot open {self.path}: {message}")

    @contextmanager
    def read(self, write_to: Path | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-only connection for the body of the `with`; DuckDB errors become StoreError.
        It reads no file but the store; write_to: the one file it may also write (export)."""
        conn = self._open_for_read(write_to)
        try:
            yield conn
        except duckdb.Error as error:
            message = first_line(error)
            if _is_corrupt(message):
                raise StoreError(f"{self.path} is truncated or corrupt: {message}") from None
            raise StoreError(message) from None
        finally:
            conn.close()

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-write connection inside one transaction: committed at the end of the
        `with`, rolled back on an exception, closed either way (releasing the file)."""
        if not self._ready:
            self._migrate()
        with self._raw_transaction() as conn:
            yield conn

    @contextmanager
    def _raw_transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        conn = self._connect(read_only=False)
        opened = self._attempt_started
        try:
            _no_vacuum(conn)
            conn.begin()
            yield conn
            conn.commit()
        except duckdb.Error as error:
            raise StoreError(first_line(error)) from None
        finally:
            try:
                conn.close()  # checkpoints: the WAL goes into the file
            except duckdb.Error as error:
                raise StoreError(f"{self.path}: {first_line(error)}") from None
            finally:
                self.last_lock_seconds = time.perf_counter() - opened

    # -- schema --------------------------------------------------------------------

    def initialize(self) -> None:
        """Create the file and its schema, or bring an older schema up to date."""
        if not self._ready:
            self._migrate()

    def _open_for_read(self, write_to: Path | None = None) -> duckdb.DuckDBPyConnection:
        """A read-only connection to a store of this schema; an older one is migrated
        first, an empty DuckDB file is refused (a read never creates a store)."""
        if not self._ready and not self.path.exists():
            raise StoreError(f"no results store at {self.path} (run a sweep, or pass --db)")
        conn = self._connect(read_only=True, write_to=write_to)
        if self._ready:
            return conn
        try:
            version = self._schema_version(conn)
        except BaseException as error:
            conn.close()
            if isinstance(error, duckdb.Error):
                raise self._open_error(error, read_only=True) from None
            raise
        if version == SCHEMA_VERSION:
            self._ready = True
            return conn
        conn.close()
        if version == 0:
            raise StoreError(
                f"{self.path} is an empty DuckDB database, not a results store yet "
                "(a sweep run with --db on it makes it one)"
            )
        self._check_not_newer(version)
        self._migrate()  # an older schema: upgraded in place, nothing lost
        return self._connect(read_only=True, write_to=write_to)

    def _migrate(self) -> None:
        with self._raw_transaction() as conn:
            version = self._schema_version(conn)
            self._check_not_newer(version)
            for step in range(version + 1, SCHEMA_VERSION + 1):
                conn.execute(schema_script(step))
        self._ready = True

    def _schema_version(self, conn: duckdb.DuckDBPyConnection) -> int:
        """0 for an empty database; a StoreError for one that holds other tables."""
        tables = {
            row[0]
            for row in conn.execute(
                "SELECT table_name FROM duckdb_tables() "
                "WHERE database_name = current_database() AND schema_name = 'main'"
            ).fetchall()
        }
        if "meta" not in tables:
            if tables:
                raise StoreError(
                    f"{self.path} is a DuckDB database but not a sparsest results store"
                )
            return 0
        rows = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchall()
        row = rows[0] if rows else None  # fetched to the end: the connection is free again
        try:
            return int(row[0]) if row else 0
        except ValueError:
            raise StoreError(f"{self.path}: unreadable store schema version {row[0]!r}") from None

    def _check_not_newer(self, version: int) -> None:
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} has store schema version {version}, newer than this "
                f"sparsest's {SCHEMA_VERSION}: upgrade sparsest to read it"
            )

    # -- writes --------------------------------------------------------------------

    def write_runs(self, records: Sequence[RunRecord]) -> int:
        """Insert a batch of runs (and their masks) in one transaction; runs whose key is
        already stored are skipped. Returns the number of runs inserted."""
        by_key: dict[str, RunRecord] = {}
        for record in records:
            by_key.setdefault(record.run_key, record)
        unique = list(by_key.values())
        if not unique:
            return 0
        columns = {name: [getattr(r, name) for r in unique] for name in RUN_COLUMNS}
        columns["widths"] = [list(w) for w in columns["widths"]]
        columns["dead_neurons"] = [list(d) for d in columns["dead_neurons"]]
        columns["finished_at"] = [_utc_now()] * len(unique)
        names = ", ".join(columns)
        selects = ", ".join(f"unnest(?) AS {name}" for name in columns)
        with self.transaction() as conn:
            inserted = {
                row[0]
                for row in conn.execute(
                    f"INSERT INTO runs ({names}) SELECT {selects} "
                    "ON CONFLICT DO NOTHING RETURNING run_key",
                    list(columns.values()),
                ).fetchall()
            }
            with_masks = [
                r
                for r in unique
                if r.run_key in inserted and (r.mask is not None or r.weights is not None)
            ]
            if with_masks:
                conn.execute(
                    "INSERT INTO masks (run_key, mask, weights) "
                    "SELECT unnest(?), unnest(?::BLOB[]), unnest(?::BLOB[])",
                    [
                        [r.run_key for r in with_masks],
                        [r.mask for r in with_masks],
                        [r.weights for r in with_masks],
                    ],
                )
        return len(inserted)

    def done_keys(self, keys: Iterable[str]) -> set[str]:
        """The given run keys that are already stored (to skip them when resuming)."""
        wanted = list(keys)
        if not wanted or not self.path.exists():
            return set()
        with self.read() as conn:
            rows = conn.execute(
                "SELECT run_key FROM runs WHERE run_key IN (SELECT unnest(?::VARCHAR[]))",
                [wanted],
            ).fetchall()
        return {row[0] for row in rows}

    def read_runs(self, keys: Sequence[str]) -> list[RunRecord]:
        """The stored runs among `keys` (with mask and weights), in the order of `keys`."""
        wanted = list(keys)
        if not wanted or not self.path.exists():
            return []
        with self.read() as conn:
            rows = conn.execute(
                f"{RECORD_SELECT} WHERE r.run_key IN (SELECT unnest(?::VARCHAR[]))", [wanted]
            ).fetchall()
        found = {record.run_key: record for record, _ in map(record_from_row, rows)}
        return [found[key] for key in wanted if key in found]

    def create_sweep(self, name: str, spec_json: str, status: str = "running") -> int:
        """Record a sweep (its spec as JSON text); returns its id for RunRecord.sweep_id.
        A `running` sweep is owned by this process."""
        _check_status(status)
        _check_json(spec_json)
        with self.transaction() as conn:
            return _insert_sweep(conn, name, spec_json, status)

    def start_sweep(self, name: str, spec_json: str) -> tuple[int, str | None]:
        """Mark this process as running the sweep `name` with this spec: resume the newest
        sweep of that name if it has this spec and did not finish (UNFINISHED_STATUSES),
        else record a new one. Returns its id and the status it resumed from (None: new)."""
        _check_json(spec_json)
        spec = json.loads(spec_json)
        with self.transaction() as conn:
            gone = [i for i, status in sweep_statuses(conn) if status == "interrupted"]
            if gone:  # make the killed sweeps read so in plain SQL too
                conn.execute(
                    "UPDATE sweeps SET status = 'interrupted' "
                    "WHERE status = 'running' AND id IN (SELECT unnest(?::INTEGER[]))",
                    [gone],
                )
            row = conn.execute(
                "SELECT id, spec::VARCHAR, status FROM sweeps WHERE name = ? "
                "ORDER BY id DESC LIMIT 1",
                [name],
            ).fetchone()
            if row is None or row[2] not in UNFINISHED_STATUSES or json.loads(row[1]) != spec:
                return _insert_sweep(conn, name, spec_json, "running"), None
            conn.execute("UPDATE sweeps SET status = 'running' WHERE id = ?", [row[0]])
            _claim(conn, row[0])
        return int(row[0]), str(row[2])

    def set_sweep_status(self, sweep_id: int, status: str) -> None:
        """Set a sweep's status; `running` also makes this process its owner."""
        _check_status(status)
        with self.transaction() as conn:
            found = conn.execute(
                "UPDATE sweeps SET status = ? WHERE id = ? RETURNING id", [status, sweep_id]
            ).fetchall()
            if found and status == "running":
                _claim(conn, sweep_id)
        if not found:
            raise StoreError(f"no sweep with id {sweep_id} in {self.path}")

    def list_sweeps(self) -> list[SweepRow]:
        """Every sweep, oldest first, with how many runs each wrote. A `running` sweep
        whose process this host can tell is gone reads as `interrupted`."""
        with self.read() as conn:
            rows = conn.execute(
                "SELECT s.id, s.name, s.spec::VARCHAR, s.created, s.status, count(r.run_key), "
                f"o.value FROM sweeps s LEFT JOIN runs r ON r.sweep_id = s.id {_OWNER_JOIN} "
                "GROUP BY ALL ORDER BY s.id"
            ).fetchall()
        return [SweepRow(i, n, sp, c, _status(st, o), runs) for i, n, sp, c, st, runs, o in rows]

    def targets(self) -> list[float]:
        """The accuracy targets the views report on (fractions), ascending."""
        with self.read() as conn:
            rows = conn.execute("SELECT target FROM targets ORDER BY target").fetchall()
        return [row[0] for row in rows]

    def add_targets(self, targets: Iterable[float]) -> None:
        """Add accuracy targets (fractions in (0, 1]) to those the views report on."""
        values = [float(t) for t in targets]
        bad = [t for t in values if not 0 < t <= 1]
        if bad:
            raise StoreError(f"accuracy targets are fractions in (0, 1], got {bad[0]:g}")
        if not values:
            return
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO targets SELECT DISTINCT unnest(?::DOUBLE[]) ON CONFLICT DO NOTHING",
                [values],
            )


def _allow_only(conn: duckdb.DuckDBPyConnection, path: Path) -> duckdb.DuckDBPyConnection:
    """Let a reader write `path` (and the temporary file DuckDB's COPY writes first
    when replacing one), then shut every other file and setting as READ_CONFIG does."""
    target = Path(os.path.abspath(path))
    try:
        allowed = [str(target), str(target.with_name(f"tmp_{target.name}"))]
        conn.execute("SET allowed_paths = ?", [allowed]).fetchall()
        conn.execute("SET enable_external_access = false").fetchall()
        conn.execute("SET lock_configuration = true").fetchall()
    except BaseException:
        conn.close()
        raise
    return conn


def _no_vacuum(conn: duckdb.DuckDBPyConnection) -> None:
    """Stop the checkpoint at close from merging the small row groups each batch leaves:
    the merges rewrite ever larger spans of the masks (every 24 batches of 512 runs,
    doubling), holding the file for seconds. Scans over many small row groups stay fast."""
    with contextlib.suppress(duckdb.Error):  # an older DuckDB without the setting
        conn.execute("SET max_vacuum_tasks = 0")


def _insert_sweep(conn: duckdb.DuckDBPyConnection, name: str, spec_json: str, status: str) -> int:
    row = conn.execute(
        "INSERT INTO sweeps (name, spec, created, status) VALUES (?, ?, ?, ?) RETURNING id",
        [name, spec_json, _utc_now(), status],
    ).fetchone()
    assert row is not None
    if status == "running":
        _claim(conn, row[0])
    return int(row[0])


def _check_json(spec_json: str) -> None:
    try:
        json.loads(spec_json)
    except ValueError as error:
        raise StoreError(f"sweep spec is not valid JSON: {error}") from None


def _check_status(status: str) -> None:
    if status not in SWEEP_STATUSES:
        raise StoreError(f"sweep status {status!r}: choose one of {', '.join(SWEEP_STATUSES)}")
