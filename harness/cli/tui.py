"""`sparsest tui`: the Textual app over the results store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def tui(
    db: Annotated[
        Path | None, typer.Option(help="Results store (default $SPARSEST_DB or ./sparsest.duckdb).")
    ] = None,
) -> None:
    """Open the app: build a sweep, watch it run, read the leaderboard live, inspect
    models, query with SQL. Everything it launches is an ordinary `sparsest run`."""
    from tui.app import make_app  # the only place the core reaches up into the app

    make_app(db).run()


def register(app: typer.Typer) -> None:
    app.command()(tui)
