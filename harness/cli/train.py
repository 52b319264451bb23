"""`sparsest train`: train one small population from flags and print its accuracies."""

from __future__ import annotations

import itertools
import json
import time
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from harness.cli.options import parse_list, parse_lrs, progress_bar
from harness.errors import UserError


def train_command(
    widths: Annotated[str, typer.Option(help="Hidden widths, e.g. 3,3,3.")] = "3,3,3",
    lrs: Annotated[str, typer.Option(help="Learning rates.")] = "0.05,0.1,0.2",
    schedules: Annotated[
        str, typer.Option(help="Schedules: cosine, multistep, constant.")
    ] = "cosine,multistep,constant",
    seeds: Annotated[int, typer.Option(min=1, help="Seeds per (lr, schedule).")] = 1,
    epochs: Annotated[int, typer.Option(min=1, help="Epochs.")] = 50,
    dataset: Annotated[
        str, typer.Option(help="Dataset name (see `sparsest datasets`).")
    ] = "cubist-spiral",
    holdout: Annotated[float, typer.Option(help="Fraction of points held out for scoring.")] = 0.0,
    shared_order: Annotated[bool, typer.Option(help="One data order for all models.")] = False,
    engine: Annotated[str, typer.Option(help="auto, numba (CPU) or torch.")] = "auto",
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Train dense MLPs over an lr x schedule x seed grid, all at once, and print accuracies."""
    from harness.training.datasets import UnknownDatasetError, load_split
    from harness.training.engines.base import SGDConfig, TrainState
    from harness.training.engines.select import make_engine, resolve_device
    from harness.training.evaluation import evaluate
    from harness.training.population import Population
    from harness.training.schedules import SCHEDULES
    from harness.training.trainer import train

    hidden = parse_list(widths, int, "--widths")
    if any(w < 1 for w in hidden):
        raise UserError(f"--widths: every width must be at least 1, got {widths}")
    lr_list = parse_lrs(lrs)
    schedule_list = parse_list(schedules, str, "--schedules")
    bad = [s for s in schedule_list if s not in SCHEDULES]
    if bad:
        raise UserError(f"--schedules: unknown {bad[0]!r}; choose from {', '.join(SCHEDULES)}")
    try:
        split = load_split(dataset, holdout)
    except (UnknownDatasetError, ValueError) as error:
        raise UserError(str(error)) from None
    torch_device = resolve_device(device)
    grid = list(itertools.product(lr_list, schedule_list, range(seeds)))
    population = Population.initialize(
        (2, *hidden, 1),
        init_seeds=[seed for _, _, seed in grid],
        lrs=[lr for lr, _, _ in grid],
        schedules=[schedule for _, schedule, _ in grid],
    ).to(torch_device)
    config = SGDConfig(epochs=epochs, shared_order=shared_order)
    try:
        runner = make_engine(engine, split.train, config, torch_device)
    except ValueError as error:
        raise UserError(str(error)) from None
    state = TrainState.fresh(population)
    started = time.perf_counter()
    with progress_bar("training", disable=as_json) as bar:
        task = bar.add_task("train", total=config.steps_per_epoch(split.train.points) * epochs)
        train(
            state,
            split.train,
            config,
            runner,
            progress=lambda done, total: bar.update(task, completed=done),
        )
    seconds = time.perf_counter() - started
    result = evaluate(population, split.test)
    rows = [
        {
            "lr": lr,
            "schedule": schedule,
            "seed": seed,
            "accuracy": float(result.accuracy[k]),
            "loss": float(result.loss[k]),
            "diverged": bool(result.diverged[k]),
        }
        for k, (lr, schedule, seed) in enumerate(grid)
    ]
    if as_json:
        typer.echo(json.dumps(rows))
        return
    table = Table(
        "lr", "schedule", "seed", "accuracy", "loss", title=f"widths {hidden}, {epochs} epochs"
    )
    for row in rows:
        accuracy = "diverged" if row["diverged"] else f"{row['accuracy']:.4f}"
        table.add_row(
            str(row["lr"]), row["schedule"], str(row["seed"]), accuracy, f"{row['loss']:.4f}"
        )
    console = Console()
    console.print(table)
    console.print(
        f"{len(grid) * epochs / seconds:,.0f} model-epochs/s on {runner.name} ({torch_device})"
    )


def register(app: typer.Typer) -> None:
    app.command("train")(train_command)
