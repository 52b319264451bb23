"""`sparsest sql`, `export`, `leaderboard`, `frontier`: read the results store.

Every command opens the store read-only for the length of one query, so each runs
while a sweep in another terminal is writing to the same file.
"""

from __future__ import annotations

import csv
import json
import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from harness.cli.tables import compact_table, fit
from harness.errors import UserError

if TYPE_CHECKING:
    from store.db import ResultsStore
    from store.queries import FrontierRow, LeaderboardRow, ParetoRow, StructureRow

T = TypeVar("T")

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


def _read(db: Path | None, query: Callable[[ResultsStore], T]) -> tuple[ResultsStore, T]:
    """Run `query` on the store at `db` (duckdb loads here, not at startup); a StoreError
    becomes a one-line UserError."""
    from store.db import ResultsStore, StoreError

    store = ResultsStore(db)
    try:
        return store, query(store)
    except StoreError as error:
        raise UserError(str(error)) from None


def _target(target: float) -> str:
    return f"{target * 100:g}%"


def check_filters(
    target: float | None = None, width: int | None = None, init: str | None = None
) -> None:
    """Refuse a filter no run can match (leaderboard, plot): a UserError naming the option."""
    if target is not None and not 0 < target <= 1:
        raise UserError(f"--target is a fraction in (0, 1] (0.95 for 95%), got {target:g}")
    if init is not None and init not in ("random", "fixed"):
        raise UserError(f"--init {init!r}: choose random or fixed")
    if width is not None and width < 1:
        raise UserError(f"--width is a positive integer, got {width}")


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
    from store import queries

    if schema:
        typer.echo(queries.schema_text())
        return
    if query is None:
        raise UserError("give a query (or --schema to list the tables)")
    if as_csv and as_json:
        raise UserError("choose one of --csv and --json")
    text = query
    _, (columns, rows) = _read(db, lambda store: queries.sql(store, text))
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
        typer.Option(
            "--query", "-q", help="A table, view or one SELECT to export (default: runs)."
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace OUT if it exists.")] = False,
    db: DbOption = None,
) -> None:
    """Export the runs (or a table, view or one SELECT) with DuckDB's own COPY."""
    from store import queries

    if fmt is None:
        fmt = out.suffix.lstrip(".").lower()
        if fmt not in queries.EXPORT_FORMATS:
            raise UserError(f"cannot tell the format of {out}: pass --format parquet|csv|json")
    if fmt not in queries.EXPORT_FORMATS:
        raise UserError(f"--format {fmt!r}: choose {', '.join(queries.EXPORT_FORMATS)}")
    chosen = fmt
    _, count = _read(db, lambda store: queries.export(store, out, chosen, query, force))
    typer.echo(f"wrote {count} rows to {out} ({fmt})")


LEADERBOARD_CAPTION = (
    "nnz: fewest weights of a run reaching the target; frontier: the search's fewest; "
    "gap: nnz / frontier; best acc: that run's accuracy (where none reached, the best "
    "run's); eff nnz: its weights on an input-to-output path; reached: runs reaching the "
    "target, of runs"
)
GAP_NOTE = (
    "* gap < 1: this algorithm found a sparser network than the search trained; the "
    "frontier is the best the search found, so the search was not exhaustive for that "
    "target (a preset may restrict phase 2)"
)


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

    gap (gap_ratio in --json) = weight nnz / the frontier's, the fewest weights the search
    found; below 1, the search was not exhaustive for that target.
    """
    from store import queries

    check_filters(target, width, init)
    store, rows = _read(
        db,
        lambda store: queries.leaderboard(
            store, target=target, width=width, init_mode=init, dataset=dataset
        ),
    )
    if as_json:
        _echo_json([asdict(row) for row in rows])
        return
    if not rows:
        typer.echo(f"no pruning runs in {store.path} match")
        return
    console = Console()
    for (name, init), label in _studies(rows).items():
        chosen = [row for row in rows if (row.dataset, row.init) == (name, init)]
        console.print(_leaderboard_table(label, chosen))
        if any(row.gap_ratio is not None and row.gap_ratio < 1 for row in chosen):
            console.print(GAP_NOTE, style="dim")


def _studies(rows: Sequence[LeaderboardRow | FrontierRow]) -> dict[tuple[str, str], str]:
    """(dataset, init study) -> its table label: the dataset, and the study when the
    store holds more than one for that dataset (store/schema_v2.sql, init_study)."""
    pairs = sorted({(row.dataset, row.init) for row in rows})
    several = {name for name, _ in pairs if sum(n == name for n, _ in pairs) > 1}
    return {(n, i): f"{n}, init {i}" if n in several else n for n, i in pairs}


def _leaderboard_table(dataset: str, rows: list[LeaderboardRow]) -> Table:
    table = compact_table(
        "target", "algorithm", "nnz", "frontier", "gap", "best acc", "eff nnz", "reached", "runs",
        title=f"fewest weights reaching each accuracy target ({dataset})",
        caption=LEADERBOARD_CAPTION,
    )  # fmt: skip
    for row in rows:
        gap = row.gap_ratio
        table.add_row(
            _target(row.target),
            row.algorithm,
            _fmt(row.weight_nnz),
            _fmt(row.frontier_weight_nnz),
            "-" if gap is None else f"{gap:.2f}x" + ("*" if gap < 1 else ""),
            _fmt(row.best_accuracy),
            _fmt(row.effective_nnz),
            str(row.reached),
            str(row.runs),
        )
    return fit(table)


FRONTIER_CAPTION = (
    "nnz: fewest weights of any searched network reaching the target; acc, widths, phase, "
    "run key: that network's; reached: search runs reaching the target; min structure: "
    "phase 1's smallest dense structure reaching it (its parameters). Pareto curve: the "
    "search's best accuracy at each weight nnz that beats every smaller nnz"
)


def frontier(
    dataset: Annotated[str | None, typer.Option(help="Only this dataset.")] = None,
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """The search's optimal frontier per accuracy target, and its Pareto curve.

    Frontier: the fewest weights of any searched network reaching each target.
    Pareto curve: the best accuracy at each weight nnz, where it beats every smaller nnz.
    """
    from store import queries

    store, (front, curve, structures) = _read(
        db,
        lambda store: (
            queries.frontier(store, dataset=dataset),
            queries.pareto(store, algorithm="search", dataset=dataset, front_only=True),
            queries.minimal_structure(store, dataset=dataset),
        ),
    )
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
    for (name, init), label in _studies(front).items():
        minimal = [s for s in structures if (s.dataset, s.init) == (name, init)]
        chosen = [r for r in front if (r.dataset, r.init) == (name, init)]
        console.print(_frontier_table(label, chosen, minimal))
        points = [p for p in curve if (p.dataset, p.init) == (name, init)]
        console.print(_pareto_table(label, points))


def _frontier_table(dataset: str, rows: list[FrontierRow], structures: list[StructureRow]) -> Table:
    table = compact_table(
        "target", "nnz", "acc", "widths", "phase", "run key", "reached", "min structure",
        title=f"optimal frontier ({dataset})",
        caption=FRONTIER_CAPTION,
    )  # fmt: skip
    minimal = {s.target: s for s in structures}
    for row in rows:
        structure = minimal.get(row.target)
        table.add_row(
            _target(row.target),
            _fmt(row.weight_nnz),
            _fmt(row.accuracy),
            _fmt(row.widths),
            _fmt(row.kind).removeprefix("search-phase"),
            _fmt(row.run_key),
            str(row.reached),
            "-" if structure is None else f"{_fmt(structure.widths)} ({structure.model_nnz})",
        )
    return fit(table)


def _pareto_table(dataset: str, points: list[ParetoRow]) -> Table:
    table = compact_table("nnz", "best acc", "runs", title=f"Pareto curve ({dataset})")
    for point in points:
        table.add_row(str(point.weight_nnz), _fmt(point.best_accuracy), str(point.runs))
    return fit(table)


def register(app: typer.Typer) -> None:
    app.command()(sql)
    app.command()(export)
    app.command()(leaderboard)
    app.command()(frontier)
