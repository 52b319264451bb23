"""`sparsest bench`: how fast the harness trains, against the plain one-model loop."""

from __future__ import annotations

import dataclasses
import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from harness.bench import SUITES, BenchOptions, BenchRow
from harness.commands.options import resolve_device
from harness.errors import UserError


def bench(
    suite: Annotated[str, typer.Option(help=f"Which benchmark: {', '.join(SUITES)}.")] = "train",
    population: Annotated[int, typer.Option(min=1, help="Models trained at once.")] = 256,
    epochs: Annotated[int, typer.Option(min=1, help="Epochs the population is timed over.")] = 3,
    device: Annotated[
        str, typer.Option(help="auto, cpu or cuda (the population's device).")
    ] = "auto",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Model-epochs per second of the population trainer and of the plain one-model loop
    (nn.Module, torch SGD, a shuffling DataLoader, one torch thread; timed over part of an
    epoch and extrapolated), at hidden widths 3,3,3 and 16,16,16. Kernel compilation is timed
    separately (compile_s) and left out of the rates."""
    if suite not in SUITES:
        raise UserError(f"unknown suite {suite!r}; choose one of: {', '.join(SUITES)}")
    options = BenchOptions(population, epochs, str(resolve_device(device)))
    rows = SUITES[suite](options)
    if as_json:
        typer.echo(json.dumps([dataclasses.asdict(row) for row in rows]))
        return
    Console().print(_table(suite, rows))


def _table(suite: str, rows: list[BenchRow]) -> Table:
    table = Table(
        "width",
        "population",
        "model-epochs/s",
        "baseline",
        "speedup",
        "device",
        "engine",
        "compile s",
        title=f"bench {suite}",
        caption="baseline: the plain one-model loop on the CPU (one torch thread), "
        f"{rows[0].baseline_steps if rows else 0} steps timed, extrapolated to epochs",
    )
    for row in rows:
        table.add_row(
            ",".join(map(str, row.width)),
            str(row.population),
            f"{row.model_epochs_per_s:,.0f}",
            f"{row.baseline_model_epochs_per_s:,.1f}",
            f"{row.speedup:,.0f}x",
            row.device,
            row.engine,
            f"{row.compile_s:.1f}",
        )
    return table


def register(app: typer.Typer) -> None:
    app.command()(bench)
