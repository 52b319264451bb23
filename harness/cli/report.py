"""`sparsest report OUT_DIR`: the study as a self-contained HTML page and Markdown."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Annotated

import typer

from harness.errors import UserError

DbOption = Annotated[
    Path | None,
    typer.Option(
        "--db",
        help="The results store (default: $SPARSEST_DB, else ./sparsest.duckdb).",
        show_default=False,
    ),
]


def check_out_dir(out: Path, force: bool) -> None:
    """OUT_DIR may be new or empty; a non-empty one only with --force (which writes over
    the report's own files and deletes nothing)."""
    if out.exists() and not out.is_dir():
        raise UserError(f"{out} exists and is not a directory")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise UserError(f"{out} is not empty: pass --force to write the report into it")


def rebuild_command(out: Path, db: Path, fmt: str | None) -> str:
    """The exact command line that rebuilds this report, run from the same directory."""
    from harness.report.sections import shown_path  # matplotlib: only when reporting

    args = ["sparsest", "report", shown_path(out), "--db", shown_path(db)]
    if fmt is not None:
        args += ["--format", fmt]
    return shlex.join([*args, "--force"])


def report(
    out_dir: Annotated[Path, typer.Argument(help="Directory to write the report into.")],
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format",
            "-f",
            help="html (index.html) or md (report.md); default: both. Figures (PNG) and "
            "tables (CSV) are written either way.",
            show_default=False,
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Write into a non-empty OUT_DIR (deletes nothing).")
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the written paths as JSON.")
    ] = False,
    db: DbOption = None,
) -> None:
    """Write a self-contained report of the store: index.html (figures embedded; opens
    offline, fits a phone) and report.md with its figures as PNG files beside it, every
    table also as CSV.

    Sections, each where the store has its runs (else one line naming the preset that
    adds it): the optimal frontier, pruning against it, overparameterisation, disconnected
    weights, fixed against random init, luck over seeds, speed and provenance.
    """
    from harness.report.data import gather
    from harness.report.sections import build_sections
    from harness.report.writers import FORMATS, write_report
    from store.db import ResultsStore

    if fmt is not None and fmt not in FORMATS:
        raise UserError(f"--format {fmt!r}: choose html or md (default: both)")
    check_out_dir(out_dir, force)
    store = ResultsStore(db)
    data = gather(store)
    sections = build_sections(data, rebuild_command(out_dir, store.path, fmt))
    sweeps = sorted({s for g in data.groups for s in g.sweeps})
    subtitle = (
        f"From `{store.path}`: {data.total_runs:,} runs of sweep"
        f"{'s' if len(sweeps) > 1 else ''} {', '.join(sweeps)}. How close do pruning "
        "algorithms get to the sparsest network that fits? (Zhang & Papyan, ICML 2024)"
    )
    try:
        written = write_report(
            sections, out_dir, FORMATS if fmt is None else (fmt,), "Sparsest report", subtitle
        )
    except OSError as error:
        raise UserError(f"cannot write the report into {out_dir}: {error.strerror}") from None
    if as_json:
        typer.echo(json.dumps({
            "html": None if written.html is None else str(written.html),
            "markdown": None if written.markdown is None else str(written.markdown),
            "figures": [str(p) for p in written.figures],
            "tables": [str(p) for p in written.tables],
        }))  # fmt: skip
        return
    present = sum(s.missing is None for s in sections)
    for page in (written.html, written.markdown):
        if page is not None:
            typer.echo(f"wrote {page}")
    typer.echo(
        f"{present} of {len(sections)} sections, {len(written.figures)} figures, "
        f"{len(written.tables)} tables (CSV) under {out_dir}"
    )


def register(app: typer.Typer) -> None:
    app.command()(report)
