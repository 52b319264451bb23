"""Read-side queries over the results store, as typed rows.

Each function opens the store read-only for its one query, so it runs while a sweep in
another process writes. The SQL of the study's results lives in schema.sql (the
`frontier_at`, `leaderboard_at` and `pareto_at` macros behind the views of the same
names); these functions bind their parameters. The few small reads the TUI makes (what
changed, filter choices, throughput) are here too, so no SQL lives outside the store.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from store.db import (
    RECORD_SELECT,
    SCHEMA_VERSION,
    ResultsStore,
    StoreError,
    first_line,
    record_from_row,
    resolve_sweeps_on_read,
    schema_script,
    sweep_statuses,
)
from store.records import RunRecord

EXPORT_FORMATS = ("parquet", "csv", "json")


@dataclass(frozen=True)
class FrontierRow:
    """The search's fewest weights reaching `target` (None where nothing does), and the
    run that shows it. reached: search runs reaching the target."""

    dataset: str
    target: float
    weight_nnz: int | None
    model_nnz: int | None
    effective_nnz: int | None
    accuracy: float | None
    widths: tuple[int, ...] | None
    kind: str | None
    run_key: str | None
    reached: int
    init: str = "random"  # the study: init_study(...) in store/schema_v2.sql


@dataclass(frozen=True)
class LeaderboardRow:
    """One pruning algorithm at one accuracy target.

    weight_nnz: fewest weights of its runs reaching the target (None if none did);
    gap_ratio: weight_nnz / frontier_weight_nnz; best_accuracy: that run's accuracy, or
    the best of any run when none reached; reached/runs: runs reaching it / all runs.
    """

    algorithm: str
    target: float
    weight_nnz: int | None
    frontier_weight_nnz: int | None
    gap_ratio: float | None
    best_accuracy: float | None
    effective_nnz: int | None
    run_key: str | None
    reached: int
    runs: int
    dataset: str
    init: str = "random"  # the study: init_study(...) in store/schema_v2.sql


@dataclass(frozen=True)
class ParetoRow:
    """Best accuracy at one weight nnz of one curve (an algorithm, or 'search')."""

    algorithm: str
    weight_nnz: int
    best_accuracy: float | None
    runs: int
    on_front: bool
    dataset: str
    init: str = "random"  # the study: init_study(...) in store/schema_v2.sql


@dataclass(frozen=True)
class StructureRow:
    """Phase 1's dense structure with the fewest parameters reaching `target`."""

    dataset: str
    target: float
    widths: tuple[int, ...]
    model_nnz: int
    weight_nnz: int
    accuracy: float
    run_key: str
    init: str = "random"  # the study: init_study(...) in store/schema_v2.sql


@dataclass(frozen=True)
class StoredRun:
    """A stored run: the record as written (with mask and weights when kept), and when."""

    record: RunRecord
    finished_at: datetime


def _tuple(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _rows(store: ResultsStore, query: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    with store.read() as conn:
        rows = conn.execute(query, list(params)).fetchall()
    return [tuple(_tuple(v) for v in row) for row in rows]


def _targets_param(targets: Sequence[float] | None) -> list[float] | None:
    if targets is None:
        return None
    values = [float(t) for t in targets]
    bad = [t for t in values if not 0 < t <= 1]
    if bad:
        raise StoreError(f"accuracy targets are fractions in (0, 1], got {bad[0]:g}")
    return values


def frontier(
    store: ResultsStore, targets: Sequence[float] | None = None, dataset: str | None = None
) -> list[FrontierRow]:
    """The optimal frontier per dataset and target (targets: default the `targets` table)."""
    rows = _rows(
        store,
        "SELECT dataset, target, weight_nnz, model_nnz, effective_nnz, accuracy, widths, "
        "kind, run_key, reached, init FROM frontier_at(targets := ?::DOUBLE[]) "
        "WHERE ? IS NULL OR dataset = ?",
        [_targets_param(targets), dataset, dataset],
    )
    return [FrontierRow(*row) for row in rows]


def minimal_structure(store: ResultsStore, dataset: str | None = None) -> list[StructureRow]:
    """Phase 1's minimal structure per dataset and target of the `targets` table."""
    rows = _rows(
        store,
        "SELECT dataset, target, widths, model_nnz, weight_nnz, accuracy, run_key, init "
        "FROM minimal_structure WHERE ? IS NULL OR dataset = ?",
        [dataset, dataset],
    )
    return [StructureRow(*row) for row in rows]


def leaderboard(
    store: ResultsStore,
    target: float | None = None,
    width: int | None = None,
    init_mode: str | None = None,
    dataset: str | None = None,
) -> list[LeaderboardRow]:
    """Per algorithm and target, fewest weights reaching it and the gap to the frontier.

    target: one accuracy target (any fraction), else every row of `targets`; width: only
    runs whose hidden layers are all that wide; init_mode: random | fixed.
    """
    targets = None if target is None else [target]
    rows = _rows(
        store,
        "SELECT algorithm, target, weight_nnz, frontier_weight_nnz, gap_ratio, best_accuracy, "
        "effective_nnz, run_key, reached, runs, dataset, init FROM leaderboard_at("
        "targets := ?::DOUBLE[], width := ?::INTEGER, init_mode := ?::VARCHAR, "
        "dataset := ?::VARCHAR)",
        [_targets_param(targets), width, init_mode, dataset],
    )
    return [LeaderboardRow(*row) for row in rows]


def pareto(
    store: ResultsStore,
    algorithm: str | None = None,
    width: int | None = None,
    init_mode: str | None = None,
    dataset: str | None = None,
    front_only: bool = False,
) -> list[ParetoRow]:
    """Best accuracy per weight nnz, per curve ('search' or a pruning algorithm).

    algorithm: one curve only; width, init_mode: filter the pruning runs; front_only:
    only the points better than every smaller nnz of their curve.
    """
    rows = _rows(
        store,
        "SELECT algorithm, weight_nnz, best_accuracy, runs, on_front, dataset, init FROM pareto_at("
        "width := ?::INTEGER, init_mode := ?::VARCHAR, dataset := ?::VARCHAR) "
        "WHERE (?::VARCHAR IS NULL OR algorithm = ?) AND (NOT ? OR on_front)",
        [width, init_mode, dataset, algorithm, algorithm, front_only],
    )
    return [ParetoRow(*row) for row in rows]


def run(store: ResultsStore, run_key: str) -> StoredRun | None:
    """One run by key, or by a unique prefix of its key; None if no run matches."""
    with store.read() as conn:
        rows = conn.execute(
            f"{RECORD_SELECT} WHERE r.run_key = ? OR starts_with(r.run_key, ?) "
            "ORDER BY r.run_key <> ? LIMIT 2",
            [run_key, run_key, run_key],
        ).fetchall()
    if not rows:
        return None
    if len(rows) > 1 and rows[0][0] != run_key:
        raise StoreError(f"run key prefix {run_key!r} matches more than one run")
    return StoredRun(*record_from_row(rows[0]))


def sql(
    store: ResultsStore, query: str, limit: int | None = None
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run any SQL on a read-only, sandboxed connection (store.db.READ_CONFIG): (column
    names, rows). A statement that writes, touches another file, loads an extension or
    changes a setting fails with DuckDB's one-line message (a StoreError); the store and
    every other file are untouched. `sweeps` reads a killed sweep as `interrupted`."""
    with store.read() as conn:
        resolve_sweeps_on_read(conn)
        result = conn.execute(query)
        if result is None or result.description is None:
            return [], []
        columns = [d[0] for d in result.description]
        rows = result.fetchall() if limit is None else result.fetchmany(limit)
    return columns, rows


@dataclass(frozen=True)
class StoreActivity:
    """Enough to tell whether the store changed: how many runs, when the last one was
    committed (DuckDB's text of it; None with no runs), and every sweep's (id, status)
    oldest first, a killed one as `interrupted`."""

    runs: int
    last_finished: str | None
    sweeps: tuple[tuple[int, str], ...]


def activity(store: ResultsStore) -> StoreActivity:
    """The store's activity, in one short read (cheap enough to poll)."""
    with store.read() as conn:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM runs), (SELECT max(finished_at)::VARCHAR FROM runs)"
        ).fetchone()
        statuses = sweep_statuses(conn)
    assert row is not None
    return StoreActivity(int(row[0]), row[1], tuple(statuses))


@dataclass(frozen=True)
class FilterChoices:
    """What the leaderboard can be filtered by. widths: of the pruning runs whose hidden
    layers are all that wide; datasets: those with runs; targets: the `targets` table.
    Each ascending."""

    widths: tuple[int, ...]
    datasets: tuple[str, ...]
    targets: tuple[float, ...]


def filter_choices(store: ResultsStore) -> FilterChoices:
    with store.read() as conn:
        widths = conn.execute(
            "SELECT DISTINCT list_min(widths) FROM runs WHERE kind = 'prune' "
            "AND list_min(widths) = list_max(widths) ORDER BY 1"
        ).fetchall()
        datasets = conn.execute("SELECT DISTINCT dataset FROM runs ORDER BY 1").fetchall()
        targets = conn.execute("SELECT target FROM targets ORDER BY 1").fetchall()
    return FilterChoices(
        tuple(int(r[0]) for r in widths),
        tuple(str(r[0]) for r in datasets),
        tuple(float(r[0]) for r in targets),
    )


def most_accurate_run(
    store: ResultsStore,
    algorithm: str,
    dataset: str,
    width: int | None = None,
    init_mode: str | None = None,
) -> str | None:
    """The key of `algorithm`'s most accurate pruning run on `dataset` (fewest weights,
    then key, among equals; diverged runs never), or None if it has none. width: only
    runs whose hidden layers are all that wide; init_mode: random | fixed."""
    rows = _rows(
        store,
        "SELECT run_key FROM runs WHERE kind = 'prune' AND algorithm = ? AND dataset = ? "
        "AND NOT diverged AND isfinite(accuracy) "
        "AND (?::INTEGER IS NULL OR (list_min(widths) = ? AND list_max(widths) = ?)) "
        "AND (?::VARCHAR IS NULL OR init_mode = ?) "
        "ORDER BY accuracy DESC, weight_nnz, run_key LIMIT 1",
        [algorithm, dataset, width, width, width, init_mode, init_mode],
    )
    return str(rows[0][0]) if rows else None


@dataclass(frozen=True)
class Throughput:
    """Median model-epochs per second of the runs on a dataset (each run's epochs over
    its share of its population's wall time), and how many runs that is."""

    model_epochs_per_s: float
    runs: int


def throughput(store: ResultsStore, dataset: str) -> Throughput | None:
    """From the stored runs on `dataset` that did not diverge; None if there are none."""
    rows = _rows(
        store,
        "SELECT median(epochs / wall_seconds), count(*) FROM runs "
        "WHERE dataset = ? AND wall_seconds > 0 AND NOT diverged",
        [dataset],
    )
    if not rows or not rows[0][1]:
        return None
    return Throughput(float(rows[0][0]), int(rows[0][1]))


def export(
    store: ResultsStore,
    out_path: str | Path,
    fmt: str,
    query: str | None = None,
    force: bool = False,
) -> int:
    """Write a table, view or one SELECT (default: `runs`) to a file with DuckDB's COPY,
    on a sandboxed reader that may write that file alone (store.db.ResultsStore.read).

    fmt: parquet | csv (with a header) | json (one JSON array); force: replace an
    existing file. Returns rows written.
    """
    if fmt not in EXPORT_FORMATS:
        raise StoreError(f"unknown export format {fmt!r}: choose {', '.join(EXPORT_FORMATS)}")
    out = Path(out_path)
    _check_export_target(store, out, force)
    source = (query or "runs").strip()
    target = str(out).replace("'", "''")
    with store.read(write_to=out) as conn:
        relation = _export_source(conn, source)
        try:
            rows = relation.query(
                "export_source", f"COPY export_source TO '{target}' ({_COPY_OPTIONS[fmt]})"
            ).fetchall()
        except duckdb.IOException as error:
            raise StoreError(f"cannot write {out}: {_io_reason(error)}") from None
    return int(rows[0][0]) if rows else 0


_COPY_OPTIONS = {
    "parquet": "FORMAT parquet",
    "csv": "FORMAT csv, HEADER",
    "json": "FORMAT json, ARRAY true",
}


def _check_export_target(store: ResultsStore, out: Path, force: bool) -> None:
    """Refuse to write over the store (by any name: a link, its WAL), into a directory,
    or over an existing file without `force`."""
    wal = store.path.with_name(store.path.name + ".wal")
    for precious in (store.path, wal):
        if out.resolve() == precious.resolve() or _same_file(out, precious):
            raise StoreError(f"will not export over the store itself ({out})")
    if out.is_dir():
        raise StoreError(f"{out} is a directory: give a file to export to")
    if out.is_file() and not force:
        raise StoreError(f"{out} exists: pass --force to replace it")


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.samefile(b)
    except OSError:
        return False


def _export_source(conn: duckdb.DuckDBPyConnection, source: str) -> duckdb.DuckDBPyRelation:
    """A table or view by name, or one SELECT (or WITH) statement, as a relation: the
    text is parsed on its own, never pasted into the COPY around it."""
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", source):
        return conn.table(source)
    try:
        statements = duckdb.extract_statements(source)
    except duckdb.Error as error:
        raise StoreError(f"--query is not valid SQL: {first_line(error)}") from None
    if len(statements) != 1 or statements[0].type != duckdb.StatementType.SELECT:
        raise StoreError("--query takes a table, a view or one SELECT statement")
    return conn.sql(statements[0].query)


def _io_reason(error: duckdb.Error) -> str:
    """Why DuckDB could not write, in a few words: its message can end in a JSON object
    (`{"exception_message": "Could not write file ...: No space left on device"}`)."""
    message = first_line(error)
    if "{" in message:
        with contextlib.suppress(ValueError, KeyError, TypeError):
            message = str(json.loads(message[message.index("{") :])["exception_message"])
    return message.rsplit(": ", 1)[-1]


def schema_columns() -> dict[str, list[tuple[str, str]]]:
    """Every table and view of the schema: name -> [(column, type)], in schema order."""
    conn = duckdb.connect(":memory:")
    try:
        for version in range(1, SCHEMA_VERSION + 1):
            conn.execute(schema_script(version))
        rows = conn.execute(
            "SELECT c.table_name, c.column_name, c.data_type FROM information_schema.columns c "
            "JOIN information_schema.tables t USING (table_schema, table_name) "
            "WHERE c.table_schema = 'main' "
            "ORDER BY t.table_type, c.table_name, c.ordinal_position"
        ).fetchall()
    finally:
        conn.close()
    tables: dict[str, list[tuple[str, str]]] = {}
    for table, column, kind in rows:
        tables.setdefault(table, []).append((column, kind))
    return tables


def schema_text() -> str:
    """The tables and views with their columns, one per line (docs, TUI, `sql --help`)."""
    return "\n".join(
        f"{table}({', '.join(f'{column} {kind}' for column, kind in columns)})"
        for table, columns in schema_columns().items()
    )


@dataclass(frozen=True)
class RunGroup:
    """The runs of one dataset, init study, kind, algorithm and widths: how many, which
    seeds and sweeps wrote them, and sums over them (connectivity, dead hidden neurons,
    model-epochs, wall time) for the report's captions and tables."""

    dataset: str
    init: str
    kind: str
    algorithm: str
    widths: tuple[int, ...]
    runs: int
    diverged: int
    seeds: tuple[int, ...]
    sweeps: tuple[str, ...]
    weight_nnz: int
    effective_nnz: int
    dead_neurons: int
    with_disconnected: int
    model_epochs: int
    wall_seconds: float


def run_groups(store: ResultsStore) -> list[RunGroup]:
    """Every (dataset, init study, kind, algorithm, widths) with runs, in that order;
    sweeps: the names of the sweeps that wrote them ('-' for runs written outside one)."""
    rows = _rows(
        store,
        "SELECT r.dataset, init_study(r.kind, r.init_mode, r.hparams) AS init, r.kind, "
        "r.algorithm, r.widths, count(*), count(*) FILTER (WHERE r.diverged), "
        "list(DISTINCT r.seed ORDER BY r.seed), "
        "list(DISTINCT coalesce(s.name, '-') ORDER BY coalesce(s.name, '-')), "
        "sum(r.weight_nnz), sum(r.effective_nnz), sum(list_sum(r.dead_neurons)), "
        "count(*) FILTER (WHERE r.effective_nnz < r.weight_nnz), sum(r.epochs), "
        "sum(r.wall_seconds) FROM runs r LEFT JOIN sweeps s ON s.id = r.sweep_id "
        "GROUP BY ALL ORDER BY 1, 2, 3, 4, 5",
        [],
    )
    return [
        RunGroup(
            *row[:7],
            tuple(row[7]),
            tuple(row[8]),
            *(int(v or 0) for v in row[9:14]),
            float(row[14] or 0.0),
        )
        for row in rows
    ]


@dataclass(frozen=True)
class SweepTiming:
    """One sweep's runs, model-epochs (runs x epochs), summed per-run wall seconds, and
    the span from its creation to its last commit (None with no runs); created: UTC.
    devices: where its runs trained."""

    id: int
    name: str
    status: str
    created: datetime
    runs: int
    model_epochs: int
    run_seconds: float
    last_finished: datetime | None
    devices: tuple[str, ...]


def sweep_timings(store: ResultsStore) -> list[SweepTiming]:
    """Every sweep, oldest first (a killed one as `interrupted`)."""
    with store.read() as conn:
        statuses = dict(sweep_statuses(conn))
        rows = conn.execute(
            "SELECT s.id, s.name, s.created, count(r.run_key), coalesce(sum(r.epochs), 0), "
            "coalesce(sum(r.wall_seconds), 0), max(r.finished_at), "
            "list(DISTINCT r.device ORDER BY r.device) FILTER (WHERE r.device IS NOT NULL) "
            "FROM sweeps s LEFT JOIN runs r ON r.sweep_id = s.id GROUP BY ALL ORDER BY s.id"
        ).fetchall()
    return [
        SweepTiming(
            int(i),
            name,
            statuses.get(int(i), "?"),
            created,
            int(runs),
            int(epochs),
            float(seconds),
            last,
            tuple(devices or ()),
        )
        for i, name, created, runs, epochs, seconds, last, devices in rows
    ]


@dataclass(frozen=True)
class RecipeSuccess:
    """How often a run's recipe reaches `target`: the runs that differ from it only in
    their seed (same kind, algorithm, dataset, widths, init study, lr, schedule, epochs,
    nnz target and hyper-parameters; for the search also the same mask), and how many
    of them reached it without diverging."""

    run_key: str
    target: float
    runs: int
    reached: int


def recipe_success(store: ResultsStore, pairs: Sequence[tuple[str, float]]) -> list[RecipeSuccess]:
    """For each (run key, accuracy target): its recipe's runs over seeds and successes."""
    if not pairs:
        return []
    rows = _rows(
        store,
        "WITH want AS (SELECT unnest(?::VARCHAR[]) AS key, unnest(?::DOUBLE[]) AS target), "
        "base AS (SELECT w.key, w.target, r.kind, r.algorithm, r.dataset, r.widths, r.lr, "
        "r.schedule, r.epochs, r.target_weight_nnz, r.hparams::VARCHAR AS hp, "
        "init_study(r.kind, r.init_mode, r.hparams) AS study, m.mask "
        "FROM want w JOIN runs r ON r.run_key = w.key LEFT JOIN masks m ON m.run_key = r.run_key) "
        "SELECT b.key, b.target, count(*), "
        "count(*) FILTER (WHERE NOT r.diverged AND r.accuracy >= b.target) "
        "FROM base b JOIN runs r ON r.kind = b.kind AND r.algorithm = b.algorithm "
        "AND r.dataset = b.dataset AND r.widths = b.widths AND r.lr = b.lr "
        "AND r.schedule = b.schedule AND r.epochs = b.epochs "
        "AND r.target_weight_nnz IS NOT DISTINCT FROM b.target_weight_nnz "
        "AND r.hparams::VARCHAR IS NOT DISTINCT FROM b.hp "
        "AND init_study(r.kind, r.init_mode, r.hparams) = b.study "
        "LEFT JOIN masks m ON m.run_key = r.run_key "
        "WHERE b.kind = 'prune' OR m.mask IS NOT DISTINCT FROM b.mask "
        "GROUP BY b.key, b.target ORDER BY b.key, b.target",
        [[k for k, _ in pairs], [float(t) for _, t in pairs]],
    )
    return [RecipeSuccess(str(k), float(t), int(n), int(r)) for k, t, n, r in rows]
