"""`sparsest datasets`: list the datasets, or export one as CSV."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from harness.errors import UserError


def datasets(
    export: Annotated[
        tuple[str, Path] | None,
        typer.Option(metavar="NAME OUT.csv", help="Write dataset NAME to OUT.csv (x0, x1, label)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List the datasets (name, points, classes) or export one."""
    import numpy as np

    from harness.training.datasets import DATASETS, UnknownDatasetError, load_dataset

    if export is not None:
        name, out = export
        try:
            data = load_dataset(name)
        except UnknownDatasetError as error:
            raise UserError(str(error)) from None
        table = np.column_stack([data.x, data.y.astype(int)])
        try:
            np.savetxt(
                out,
                table,
                delimiter=",",
                header="x0,x1,label",
                comments="",
                fmt=["%.8g", "%.8g", "%d"],
            )
        except OSError as error:
            raise UserError(f"cannot write {out}: {error.strerror}") from None
        typer.echo(f"wrote {data.points} points of {name} to {out}")
        return
    rows = []
    for name in DATASETS:
        data = load_dataset(name)
        rows.append({"name": name, "points": data.points, "classes": data.classes})
    if as_json:
        typer.echo(json.dumps(rows))
        return
    table = Table("name", "points", "classes", title="datasets")
    for row in rows:
        table.add_row(row["name"], f"{row['points']:,}", str(row["classes"]))
    Console().print(table)


def register(app: typer.Typer) -> None:
    app.command()(datasets)
