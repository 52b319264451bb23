"""`sparsest prune`: run an algorithm x width x nnz grid; `sparsest algorithms`: list them."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from harness.cli.options import parse_list, parse_lrs, progress_bar
from harness.cli.tables import compact_table, fit
from harness.errors import UserError

if TYPE_CHECKING:
    from harness.sweeps.executors import Executor
    from harness.sweeps.prune_runs import PruneGrid
    from harness.sweeps.result_sink import ResultSink
    from store.records import RunRecord

ENGINES = ("auto", "torch", "numba")


def parse_widths(text: str, depth: int = 3) -> list[tuple[int, ...]]:
    """'3,16' -> [(3, 3, 3), (16, 16, 16)]; an item 'AxBxC' is one structure (A, B, C)."""
    structures = []
    for item in parse_list(text, str, "--width"):
        try:
            widths = tuple(int(w) for w in item.lower().split("x"))
        except ValueError:
            raise UserError(f"--width: cannot read {item!r}; use W or AxBxC") from None
        if len(widths) == 1:
            widths = widths * depth
        if any(w < 1 for w in widths):
            raise UserError(f"--width: every width must be at least 1, got {item}")
        structures.append(widths)
    return structures


def parse_algorithms(text: str) -> list[str]:
    """Names from --algorithm ('all': every built-in and plug-in); NAME+repair composes."""
    from algorithms.registry import ALGORITHMS

    names = parse_list(text, str, "--algorithm")
    if names == ["all"]:
        return list(ALGORITHMS)
    for name in names:
        if name not in ALGORITHMS:  # composes NAME+repair, so the grid knows it too
            choices = ", ".join(ALGORITHMS)
            raise UserError(f"unknown algorithm {name!r}; choose from: {choices} (or NAME+repair)")
    return names


def _open_store(db: Path) -> ResultSink:
    from store.db import ResultsStore

    return ResultsStore(db)


def row(record: RunRecord) -> dict[str, Any]:
    return {
        "algorithm": record.algorithm,
        "width": list(record.widths),
        "target_nnz": record.target_weight_nnz,
        "achieved_nnz": record.weight_nnz,
        "effective_nnz": record.effective_nnz,
        "accuracy": record.accuracy if math.isfinite(record.accuracy) else None,
        "diverged": record.diverged,
        "lr": record.lr,
        "schedule": record.schedule,
        "seed": record.seed,
        "run_key": record.run_key,
    }


def _width_label(widths: list[int]) -> str:
    return str(widths[0]) if len(set(widths)) == 1 else "x".join(map(str, widths))


PRUNE_CAPTION = (
    "target: the weight nnz asked for; nnz: weights kept; eff nnz: effective weights, "
    "those on an input-to-output path"
)


def _print_table(rows: list[dict[str, Any]], epochs: int) -> None:
    seeds = len({r["seed"] for r in rows}) > 1
    table = compact_table(
        "algorithm", "width", "target", "nnz", "eff nnz", "accuracy", "lr", "schedule",
        *(["seed"] if seeds else []),
        title=f"pruning runs, {epochs} epochs",
        caption=PRUNE_CAPTION,
    )  # fmt: skip
    for r in rows:
        accuracy = "diverged" if r["diverged"] else f"{r['accuracy']:.4f}"
        cells = [r["algorithm"], _width_label(r["width"]), str(r["target_nnz"])]
        cells += [str(r["achieved_nnz"]), str(r["effective_nnz"]), accuracy]
        cells += [f"{r['lr']:g}", r["schedule"], *([str(r["seed"])] if seeds else [])]
        table.add_row(*cells)
    Console().print(fit(table))


def _run(
    grid: PruneGrid,
    sink: ResultSink,
    executor: Executor,
    population: int,
    progress: Callable[[float, int], None],
) -> list[RunRecord]:
    """Run the grid; with a store, every run of the grid (done before or now) comes back."""
    from harness.sweeps.prune_runs import prune_units
    from harness.sweeps.stages import pending, train_units

    from_store = hasattr(sink, "read_runs")
    errors: tuple[type[Exception], ...] = (ValueError,)
    if from_store:
        from store.db import StoreError

        errors = (ValueError, StoreError)
    try:
        units = prune_units(grid, population, strict=True)
        total = sum(len(u.runs) for u in units)
        left = pending(units, sink)
        records = train_units(left, executor, sink, lambda done: progress(done, total))
        if from_store:
            records = sink.read_runs([key for unit in units for key in unit.keys])  # type: ignore[attr-defined]
    except errors as error:
        raise UserError(str(error)) from None
    return records


def prune_command(
    algorithm: Annotated[
        str,
        typer.Option(
            help="Algorithm names, comma-separated, or 'all' (see `sparsest algorithms`); "
            "NAME+repair: NAME with effective-sparsity repair."
        ),
    ],
    width: Annotated[str, typer.Option(help="Hidden widths W (W,W,W) or AxBxC, comma-separated.")],
    nnz: Annotated[str, typer.Option(help="Target weight nnz, comma-separated.")],
    epochs: Annotated[int, typer.Option(min=1, help="Epochs per training.")] = 50,
    lrs: Annotated[str, typer.Option(help="Learning rates.")] = "0.05,0.1,0.2",
    schedules: Annotated[
        str, typer.Option(help="Schedules: cosine, multistep, constant.")
    ] = "cosine,multistep,constant",
    seeds: Annotated[int, typer.Option(min=1, help="Seeds per (lr, schedule).")] = 1,
    init: Annotated[
        str, typer.Option(help="random, or fixed (the search's 16-wide init).")
    ] = "random",
    fixed_init_seed: Annotated[
        int | None, typer.Option(help="With --init fixed: this init seed for every run.")
    ] = None,
    fixed_network: Annotated[
        str | None,
        typer.Option(
            help="With --init fixed: paper-95, paper-995 (the paper's networks) or an .npz "
            "path, cut to each width; default: the seeded 16-wide network."
        ),
    ] = None,
    hp: Annotated[
        list[str] | None,
        typer.Option(help="Hyper-parameter key=value (or algorithm.key=value); repeatable."),
    ] = None,
    dataset: Annotated[str, typer.Option(help="Dataset name.")] = "cubist-spiral",
    population: Annotated[int, typer.Option(min=1, help="Most models trained at once.")] = 512,
    db: Annotated[
        Path | None,
        typer.Option(
            help="Write runs to this results store and skip those it has; none: print only."
        ),
    ] = None,
    engine: Annotated[str, typer.Option(help="auto, numba (CPU) or torch.")] = "auto",
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON rows.")] = False,
) -> None:
    """Prune and train every algorithm x width x nnz x lr x schedule x seed; print each run."""
    from harness.sweeps.executors import LocalExecutor
    from harness.sweeps.prune_runs import PruneGrid, hparams_from_items
    from harness.sweeps.result_sink import MemorySink

    if engine not in ENGINES:
        raise UserError(f"unknown engine {engine!r}; choose auto, torch or numba")
    schedule_list = parse_list(schedules, str, "--schedules")
    algorithms = tuple(parse_algorithms(algorithm))
    grid = PruneGrid(
        algorithms=algorithms,
        widths=tuple(parse_widths(width)),
        nnz=tuple(parse_list(nnz, int, "--nnz")),
        lrs=tuple(parse_lrs(lrs)),
        schedules=tuple(schedule_list),
        seeds=seeds,
        epochs=epochs,
        init=init,
        fixed_init_seed=fixed_init_seed,
        fixed_network=fixed_network or "",
        dataset=dataset,
        params=hparams_from_items(algorithms, hp or (), init),
    )
    executor = LocalExecutor(device, engine)
    sink = _open_store(db) if db is not None else MemorySink()
    with progress_bar("runs {task.fields[runs]}", disable=as_json) as bar:
        task = bar.add_task("prune", total=1.0, runs="")

        def progress(done: float, total: int) -> None:
            bar.update(task, completed=done / max(total, 1), runs=f"{int(done)}/{total}")

        records = _run(grid, sink, executor, population, progress)
    rows = [row(r) for r in records]
    if as_json:
        typer.echo(json.dumps(rows))
        return
    _print_table(rows, epochs)


def algorithms_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List the pruning algorithms: name, origin (built-in or the plug-in's distribution),
    paper, summary and hyper-parameters. A plug-in that failed to load is one line on
    stderr."""
    from algorithms.hparams import describe
    from algorithms.registry import ALGORITHMS

    rows = [
        {
            "name": name,
            "origin": ALGORITHMS.origin(name),
            "paper": cls.paper,
            "summary": cls.summary,
            "hparams": [
                {"name": n, "type": t, "default": d, "help": h}
                for n, t, d, h in describe(cls.Params)
            ],
        }
        for name, cls in ALGORITHMS.items()
    ]
    if as_json:
        typer.echo(json.dumps(rows))
        return
    table = compact_table(
        "name", "what it does", "hyper-parameters", title="algorithms",
        caption="NAME+repair: any of them with effective-sparsity repair (Vysogorets & Kempe)",
    )  # fmt: skip
    for r in rows:
        params = "\n".join(f"{p['name']}={p['default']}" for p in r["hparams"]) or "-"
        about = f"{escape(r['summary'])}\n[dim]{escape(r['paper'])}[/dim]"
        name = f"{escape(r['name'])}\n[dim]{escape(r['origin'])}[/dim]"
        table.add_row(name, about, params, end_section=True)
    table = fit(table, prose=["what it does"])
    Console().print(table)


def register(app: typer.Typer) -> None:
    app.command("prune")(prune_command)
    app.command("algorithms")(algorithms_command)
