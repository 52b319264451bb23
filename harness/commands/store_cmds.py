"""`sparsest sql`, `export`, `leaderboard`, `frontier`: read the results store.

Every command opens the store read-only for the length of one query, so each runs
while a sweep in another terminal is writing to the same file.
"""

from __future__ import annotations

import csv
import json
import math
import sys
from dataclasses import asdict
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from harness.errors import UserError
from store import queries
from store.db import ResultsStore, StoreError

DbOption = Annotated[
    Path | None,
    typer.Option(
        "--db",
        help="The results store (default: $SPARSEST_DB, else ./sparsest.duckdb).",
        show_default=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _jsonable(value: Any) -> Any:
    """What json.dumps cannot take as it comes: times, blobs, decimals, NaN."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value


def _echo_json(data: Any) -> None:
    typer.echo(json.dumps(_jsonable(data), indent=None))


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}" if math.isfinite(value) else str(value)
    if isinstance(value, (list, tuple)):
        return "x".join(str(v) for v in value)
    return str(value)


def _check_target(target: float | None) -> None:
    if target is not None and not 0 < target <= 1:
        raise UserError(f"--target is a fraction in (0, 1] (0.95 for 95%), got {target:g}")


def sql(
    query: Annotated[
        str | None,
        typer.Argument(help="SQL to run, e.g. 'SELECT * FROM leaderboard'.", show_default=False),
    ] = None,
    schema: Annotated[
        bool, typer.Option("--schema", help="List the tables and views with their columns.")
    ] = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print CSV with a header.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list of rows.")] = False,
    db: DbOption = None,
) -> None:
    """Run read-only SQL on the results store.

    Tables: runs, masks, sweeps, targets. Views: frontier, leaderboard, pareto,
    minimal_structure. `--schema` lists their columns.
    """
    if schema:
        typer.echo(queries.schema_text())
        return
    if query is None:
        raise UserError("give a query (or --schema to list the tables)")
    if as_csv and as_json:
        raise UserError("choose one of --csv and --json")
    try:
        columns, rows = queries.sql(ResultsStore(db), query)
    except StoreError as error:
        raise UserError(str(error)) from None
    if as_json:
        _echo_json([dict(zip(columns, row, strict=True)) for row in rows])
    elif as_csv:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow(["" if v is None else _jsonable(v) for v in row])
    elif columns:
        table = Table(*columns)
        for row in rows:
            table.add_row(*(_fmt(v, digits=6) for v in row))
        Console().print(table)
        typer.echo(f"{len(rows)} row{'s' if len(rows) != 1 else ''}")


def export(
    out: Annotated[Path, typer.Argument(help="The file to write.")],
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format",
            "-f",
            help="parquet, csv or json (one JSON array); default: from OUT's suffix.",
            show_default=False,
        ),
    ] = None,
    query: Annotated[
        str | None,
        typer.Option("--query", "-q", help="A table, view or SELECT to export (default: runs)."),
    ] = None,
    db: DbOption = None,
) -> None:
    """Export the runs (or a table, view or query) with DuckDB's own COPY."""
    if fmt is None:
        fmt = out.suffix.lstrip(".").lower()
        if fmt not in queries.EXPORT_FORMATS:
            raise UserError(f"cannot tell the format of {out}: pass --format parquet|csv|json")
    if fmt not in queries.EXPORT_FORMATS:
        raise UserError(f"--format {fmt!r}: choose {', '.join(queries.EXPORT_FORMATS)}")
    try:
        count = queries.export(ResultsStore(db), out, fmt, query)
    except StoreError as error:
        raise UserError(str(error)) from None
    typer.echo(f"wrote {count} rows to {out} ({fmt})")


def leaderboard(
    target: Annotated[
        float | None,
        typer.Option(help="One accuracy target, a fraction (default: the store's targets)."),
    ] = None,
    width: Annotated[
        int | None, typer.Option(help="Only runs whose hidden layers are all this wide.")
    ] = None,
    init: Annotated[
        str | None, typer.Option("--init", help="Only runs with this init: random or fixed.")
    ] = None,
    dataset: Annotated[str | None, typer.Option(help="Only this dataset.")] = None,
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """The fewest weights each pruning algorithm needs per accuracy target, and the gap.

    gap_ratio = weight_nnz / frontier_weight_nnz, the search's optimum.
    """
    _check_target(target)
    if init is not None and init not in ("random", "fixed"):
        raise UserError(f"--init {init!r}: choose random or fixed")
    if width is not None and width < 1:
        raise UserError(f"--width is a positive integer, got {width}")
    store = ResultsStore(db)
    try:
        rows = queries.leaderboard(
            store, target=target, width=width, init_mode=init, dataset=dataset
        )
    except StoreError as error:
        raise UserError(str(error)) from None
    if as_json:
        _echo_json([asdict(row) for row in rows])
        return
    if not rows:
        typer.echo(f"no pruning runs in {store.path} match")
        return
    datasets = sorted({row.dataset for row in rows})
    title = "fewest weights reaching each accuracy target"
    columns = ["target", "algorithm", "weight_nnz", "frontier_weight_nnz", "gap_ratio"]
    columns += ["best_accuracy", "effective_nnz", "reached", "runs"]
    table = Table(
        *(["dataset"] if len(datasets) > 1 else []),
        *columns,
        title=f"{title} ({', '.join(datasets)})",
    )
    for row in rows:
        table.add_row(
            *([row.dataset] if len(datasets) > 1 else []),
            f"{row.target:.2%}",
            row.algorithm,
            _fmt(row.weight_nnz),
            _fmt(row.frontier_weight_nnz),
            "-" if row.gap_ratio is None else f"{row.gap_ratio:.2f}x",
            _fmt(row.best_accuracy),
            _fmt(row.effective_nnz),
            str(row.reached),
            str(row.runs),
        )
    Console().print(table)


def frontier(
    dataset: Annotated[str | None, typer.Option(help="Only this dataset.")] = None,
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """The search's optimal frontier per accuracy target, and its Pareto curve.

    Frontier: the fewest weights of any searched network reaching each target.
    Pareto curve: the best accuracy at each weight nnz, where it beats every smaller nnz.
    """
    store = ResultsStore(db)
    try:
        front = queries.frontier(store, dataset=dataset)
        curve = queries.pareto(store, algorithm="search", dataset=dataset, front_only=True)
        structures = queries.minimal_structure(store, dataset=dataset)
    except StoreError as error:
        raise UserError(str(error)) from None
    if as_json:
        _echo_json(
            {
                "frontier": [asdict(row) for row in front],
                "pareto": [asdict(row) for row in curve],
                "minimal_structure": [asdict(row) for row in structures],
            }
        )
        return
    if not front:
        typer.echo(f"no search runs in {store.path}")
        return
    console = Console()
    table = Table(
        "dataset",
        "target",
        "weight_nnz",
        "accuracy",
        "widths",
        "kind",
        "run_key",
        "reached",
        "minimal structure",
        title="optimal frontier",
    )
    minimal = {(s.dataset, s.target): s for s in structures}
    for row in front:
        structure = minimal.get((row.dataset, row.target))
        table.add_row(
            row.dataset,
            f"{row.target:.2%}",
            _fmt(row.weight_nnz),
            _fmt(row.accuracy),
            _fmt(row.widths),
            _fmt(row.kind),
            _fmt(row.run_key),
            str(row.reached),
            "-" if structure is None else f"{_fmt(structure.widths)} ({structure.model_nnz})",
        )
    console.print(table)
    pareto_table = Table("dataset", "weight_nnz", "best_accuracy", "runs", title="Pareto curve")
    for point in curve:
        pareto_table.add_row(
            point.dataset, str(point.weight_nnz), _fmt(point.best_accuracy), str(point.runs)
        )
    console.print(pareto_table)


def register(app: typer.Typer) -> None:
    app.command()(sql)
    app.command()(export)
    app.command()(leaderboard)
    app.command()(frontier)
