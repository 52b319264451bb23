"""`sparsest search`: the combinatorial search (phase 1 structures, phase 2 masks)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from harness.cli.options import parse_list, parse_lrs
from harness.cli.tables import compact_table, fit
from harness.errors import UserError

if TYPE_CHECKING:
    from harness.search.phases import Phase1Result, Phase2Result, Plan
    from harness.sweeps.result_sink import ResultSink

PAPER_STRUCTURE = (3, 3, 3)


def _parse_nnz(text: str | None) -> tuple[int | None, ...] | None:
    if text is None:
        return None
    items = parse_list(text, str, "--nnz")
    try:
        return tuple(None if item in ("*", "any") else int(item) for item in items)
    except ValueError:
        raise UserError(f"--nnz: expected integers or '*', got {text!r}") from None


def _structure(text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    widths = tuple(parse_list(text, int, "--structure"))
    if any(w < 1 for w in widths):
        raise UserError(f"--structure: every width must be at least 1, got {text}")
    return widths


@contextmanager
def _open_sink(db: Path | None) -> Iterator[ResultSink]:
    """The results store at --db (else $SPARSEST_DB, else ./sparsest.duckdb); its
    errors become one-line UserErrors."""
    from store.db import ResultsStore, StoreError

    try:
        yield ResultsStore(db)
    except StoreError as error:
        raise UserError(str(error)) from None


def _plan(make: Callable[[], Plan]) -> Plan:
    try:
        return make()
    except ValueError as error:
        raise UserError(str(error)) from None


def _plan_json(plan: Plan | None, phase: int) -> dict[str, object]:
    if plan is None:
        return {"phase": phase, "structure": None, "masks": None, "trainings": None}
    return {
        "phase": plan.phase,
        "structure": list(plan.structure) if plan.structure else None,
        "masks": plan.masks,
        "trainings": plan.trainings,
    }


def _print_plan(console: Console, plan: Plan | None, phase: int) -> None:
    if plan is None:
        console.print(f"phase {phase}: on phase 1's minimal structure, known after phase 1")
    elif plan.phase == 1:
        console.print(f"phase 1: {plan.masks:,} structures, {plan.trainings:,} trainings")
    else:
        console.print(
            f"phase 2 on {','.join(map(str, plan.structure or ()))}: "
            f"{plan.masks:,} masks, {plan.trainings:,} trainings"
        )


def _phase1_json(result: Phase1Result) -> dict[str, object]:
    return {"phase": 1, "minimal": [m.as_json() for m in result.minimal]}


def _phase2_json(result: Phase2Result) -> dict[str, object]:
    return {
        "phase": 2,
        "structure": list(result.plan.structure or ()),
        "frontier": [f.as_json() for f in result.frontier],
        "pareto": [
            {
                "weight_nnz": p.weight_nnz,
                "accuracy": p.accuracy,
                "run_key": p.run_key,
                "on_frontier": p.on_frontier,
            }
            for p in result.pareto
        ],
    }


def _print_phase1(console: Console, result: Phase1Result) -> None:
    table = compact_table(
        "target", "structure", "params", "nnz", "accuracy", "lr", "schedule", "seed",
        title="phase 1: minimal structures",
        caption="structure: the dense structure with the fewest parameters reaching the "
        "target; nnz: its weights",
    )  # fmt: skip
    for row in map(lambda m: m.as_json(), result.minimal):
        if row["structure"] is None:
            table.add_row(f"{row['target']:g}", "not reached", *["-"] * 6)
            continue
        table.add_row(
            f"{row['target']:g}", ",".join(map(str, row["structure"])), str(row["params"]),
            str(row["weight_nnz"]), f"{row['accuracy']:.4f}", f"{row['lr']:g}",
            str(row["schedule"]), str(row["seed"]),
        )  # fmt: skip
    console.print(fit(table))


PHASE2_CAPTION = (
    "nnz: fewest weights of a mask reaching the target; params: its weights and biases; "
    "seeds: that mask's seeds reaching the target, of seeds"
)


def _print_phase2(console: Console, result: Phase2Result) -> None:
    structure = ",".join(map(str, result.plan.structure or ()))
    table = compact_table(
        "target", "nnz", "params", "acc", "lr", "schedule", "seed", "seeds", "run key",
        title=f"phase 2 on {structure}: frontier",
        caption=PHASE2_CAPTION,
    )  # fmt: skip
    for row in (f.as_json() for f in result.frontier):
        if row["run_key"] is None:
            table.add_row(f"{row['target']:g}", *["-"] * 7, "not reached")
            continue
        table.add_row(
            f"{row['target']:g}", str(row["weight_nnz"]), str(row["model_nnz"]),
            f"{row['accuracy']:.4f}", f"{row['lr']:g}", str(row["schedule"]), str(row["seed"]),
            f"{row['seeds_reached']}/{row['seeds']}", str(row["run_key"]),
        )  # fmt: skip
    console.print(fit(table))
    curve = compact_table(
        "nnz",
        "best acc",
        "frontier",
        title="best accuracy per weight nnz",
        caption="frontier *: no sparser mask does as well",
    )
    for point in result.pareto:
        curve.add_row(str(point.weight_nnz), f"{point.accuracy:.4f}", "*" * point.on_frontier)
    console.print(fit(curve))


def search(
    phase: Annotated[str, typer.Option(help="1 (structures), 2 (masks) or both.")] = "both",
    max_width: Annotated[int, typer.Option(help="Phase 1 widths 1..max_width.")] = 16,
    structure: Annotated[
        str | None,
        typer.Option(help="Phase 2 widths, e.g. 3,3,3 (default: phase 1's minimum; 3,3,3 alone)."),
    ] = None,
    targets: Annotated[str, typer.Option(help="Accuracy targets in (0, 1].")] = "0.95,0.995",
    init: Annotated[
        str,
        typer.Option(
            help="random (the reference's: a fresh 16-wide network per run, cut to the "
            "structure), random-own-width, or fixed (one network for every run)."
        ),
    ] = "random",
    fixed_network: Annotated[
        str | None,
        typer.Option(
            help="With --init fixed: paper-95, paper-995 (the paper's networks), a seed or "
            "an .npz path; default: one seeded max_width-wide network per seed."
        ),
    ] = None,
    epochs: Annotated[int, typer.Option(help="Epochs per run.")] = 50,
    lrs: Annotated[str, typer.Option(help="Learning rates.")] = "0.05,0.1",
    schedules: Annotated[
        str, typer.Option(help="cosine, multistep, constant.")
    ] = "cosine,multistep,constant",
    seeds: Annotated[int, typer.Option(help="Seeds per grid point.")] = 1,
    nnz: Annotated[
        str | None, typer.Option(help="Phase 2: weights per masked layer, e.g. 3,*,6.")
    ] = None,
    symmetry: Annotated[
        str, typer.Option(help="layer (the paper's product) or joint (one per class).")
    ] = "layer",
    max_masks: Annotated[int, typer.Option(help="Refuse to enumerate more masks.")] = 10_000_000,
    population: Annotated[int, typer.Option(help="Models trained side by side.")] = 1024,
    engine: Annotated[str, typer.Option(help="auto, numba (CPU) or torch.")] = "auto",
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    dataset: Annotated[str, typer.Option(help="Dataset name.")] = "cubist-spiral",
    db: Annotated[Path | None, typer.Option(help="Results store (default $SPARSEST_DB).")] = None,
    dry_run: Annotated[bool, typer.Option(help="Count, do not train.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Train every structure (phase 1) and every mask of the minimal one (phase 2)."""
    from harness.search.config import Grid, Phase1Config, Phase2Config
    from harness.search.masks import SYMMETRIES
    from harness.search.phases import plan_phase1, plan_phase2
    from harness.search.selection import check_targets
    from harness.sweeps.executors import LocalExecutor
    from harness.sweeps.stages import SearchContext, run_phase1, run_phase2
    from harness.training.datasets import DATASETS
    from harness.training.engines.select import resolve_device
    from harness.training.run_spec import INIT_MODES
    from harness.training.schedules import SCHEDULES

    if phase not in ("1", "2", "both"):
        raise UserError(f"--phase: choose 1, 2 or both, got {phase!r}")
    if max_width < 1:
        raise UserError(f"--max-width must be at least 1, got {max_width}")
    for name, value in (("--epochs", epochs), ("--seeds", seeds), ("--population", population)):
        if value < 1:
            raise UserError(f"{name} must be at least 1, got {value}")
    if max_masks < 1:
        raise UserError(f"--max-masks must be at least 1, got {max_masks}")
    try:
        target_list = check_targets(parse_list(targets, float, "--targets"))
    except ValueError as error:
        raise UserError(f"--targets: {error}") from None
    if init not in INIT_MODES:
        raise UserError(f"--init: choose {', '.join(INIT_MODES)}, got {init!r}")
    if fixed_network is not None and init != "fixed":
        raise UserError("--fixed-network goes with --init fixed")
    network = fixed_network or ""
    if symmetry not in SYMMETRIES:
        raise UserError(f"--symmetry: choose layer or joint, got {symmetry!r}")
    if dataset not in DATASETS:
        raise UserError(f"unknown dataset {dataset!r}; choose one of: {', '.join(DATASETS)}")
    if engine not in ("auto", "torch", "numba"):
        raise UserError(f"--engine: choose auto, torch or numba, got {engine!r}")
    schedule_list = tuple(parse_list(schedules, str, "--schedules"))
    bad = [s for s in schedule_list if s not in SCHEDULES]
    if bad:
        raise UserError(f"--schedules: unknown {bad[0]!r}; choose from {', '.join(SCHEDULES)}")
    lr_list = tuple(parse_lrs(lrs))
    torch_device = resolve_device(device)
    if engine == "numba" and torch_device.type != "cpu":
        raise UserError("the numba engine runs on the CPU only; use --engine torch")
    widths = _structure(structure)
    grid = Grid(lr_list, schedule_list, seeds, epochs)
    phase1 = Phase1Config(max_width, 3, init, grid, network)
    phase2 = Phase2Config(
        widths or PAPER_STRUCTURE,
        init,
        grid,
        symmetry,
        max_masks,
        max_width,
        _parse_nnz(nnz),  # type: ignore[arg-type]
        network,
    )
    runs_phase1, runs_phase2 = phase in ("1", "both"), phase in ("2", "both")
    plan1 = _plan(lambda: plan_phase1(phase1)) if runs_phase1 else None
    known2 = runs_phase2 and (phase == "2" or widths is not None)
    plan2 = _plan(lambda: plan_phase2(phase2)) if known2 else None

    console = Console(stderr=as_json)
    if dry_run:
        plans = ([(plan1, 1)] if runs_phase1 else []) + ([(plan2, 2)] if runs_phase2 else [])
        if as_json:
            rows = [_plan_json(p, n) for p, n in plans]
            typer.echo(json.dumps(rows[0] if len(rows) == 1 else rows))
        else:
            for p, n in plans:
                _print_plan(console, p, n)
        return

    executor = LocalExecutor(torch_device.type, engine)
    outputs: list[dict[str, object]] = []
    with _open_sink(db) as sink:

        def context(progress: Callable[[float], None]) -> SearchContext:
            return SearchContext(executor, sink, dataset, population, target_list,
                                 console.print, progress)  # fmt: skip

        if runs_phase1:
            with _bar(console, "phase 1", plan1) as progress:
                result1 = run_phase1(phase1, context(progress))
            outputs.append(_phase1_json(result1))
            if not as_json:
                _print_phase1(console, result1)
            if runs_phase2 and widths is None:
                best = result1.minimal[0].run
                if best is None:
                    raise UserError(
                        f"no structure reached {target_list[0]:g} in phase 1; "
                        "pass --structure for phase 2"
                    )
                phase2 = replace(phase2, structure=tuple(best.widths))
        if runs_phase2:
            with _bar(console, "phase 2", _plan(lambda: plan_phase2(phase2))) as progress:
                result2 = run_phase2(phase2, context(progress))
            outputs.append(_phase2_json(result2))
            if not as_json:
                _print_phase2(console, result2)
    if as_json:
        typer.echo(json.dumps(outputs[0] if len(outputs) == 1 else outputs))


@contextmanager
def _bar(console: Console, label: str, plan: Plan | None) -> Iterator[Callable[[float], None]]:
    with Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=plan.trainings if plan else None)

        def update(done: float) -> None:
            bar.update(task, completed=done)

        yield update


def register(app: typer.Typer) -> None:
    app.command("search")(search)
