"""`sparsest run SPEC.toml|PRESET`: run a sweep into the store, with progress."""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from harness.cli.store import leaderboard
from harness.cli.tables import compact_table, fit
from harness.errors import UserError
from harness.timefmt import format_duration

if TYPE_CHECKING:
    from harness.sweeps.driver import SweepDriver, SweepSummary
    from harness.sweeps.events import SweepEvent
    from harness.sweeps.plan import PartPlan
    from harness.sweeps.projection import PartProjection
    from harness.sweeps.spec_file import SweepSpec


class ProgressStyle(str, Enum):
    bar = "bar"
    jsonl = "jsonl"
    none = "none"


def run(
    spec: Annotated[
        str, typer.Argument(help="A preset name (see `sparsest presets`) or a TOML spec.")
    ],
    db: Annotated[
        Path | None, typer.Option(help="Results store (default $SPARSEST_DB or ./sparsest.duckdb).")
    ] = None,
    progress: Annotated[
        ProgressStyle, typer.Option(help="bar, jsonl (one JSON event per line) or none.")
    ] = ProgressStyle.bar,
    device: Annotated[
        str | None, typer.Option(help="Override the spec's device: auto, cpu, cuda.")
    ] = None,
    show_leaderboard: Annotated[
        bool,
        typer.Option("--leaderboard/--no-leaderboard", help="Print the leaderboard at the end."),
    ] = True,
    dry_run: Annotated[
        bool,
        typer.Option(
            help="Print the runs each part of the spec expands into, how many the store "
            "already holds, and the time the rest are projected to take on this machine; "
            "train nothing."
        ),
    ] = False,
    project: Annotated[
        bool,
        typer.Option(
            help="With --dry-run: project each part's time from a short calibration per "
            "algorithm and hidden widths (cached per machine; the first time takes a while)."
        ),
    ] = True,
    as_json: Annotated[bool, typer.Option("--json", help="With --dry-run: print JSON.")] = False,
    executor: Annotated[
        str | None,
        typer.Option(
            help="Override the spec's executor: local (this process) or ray (Ray tasks; "
            "needs the ray extra).",
            rich_help_panel="Executor",
        ),
    ] = None,
    address: Annotated[
        str | None,
        typer.Option(
            help="With --executor ray: join the Ray cluster at HOST:PORT. Without it a "
            "private Ray instance starts on 127.0.0.1 for the sweep and stops after it.",
            rich_help_panel="Executor",
        ),
    ] = None,
    ray_cpus_per_task: Annotated[
        float | None,
        typer.Option(help="CPUs one Ray task reserves (default 1).", rich_help_panel="Executor"),
    ] = None,
    ray_gpus_per_task: Annotated[
        float | None,
        typer.Option(
            help="GPUs one Ray task reserves; a fraction lets populations share a GPU "
            "(default 0: CPU tasks).",
            rich_help_panel="Executor",
        ),
    ] = None,
) -> None:
    """Run a sweep: expand the spec into runs, train them in populations, write every
    result to the store. Rerunning an interrupted sweep finishes only what is missing."""
    from harness.sweeps.driver import SweepDriver
    from harness.sweeps.executors import make_executor
    from harness.sweeps.plan import plan_sweep
    from harness.sweeps.projection import costs_if_cached
    from harness.sweeps.spec_file import load_spec, validate
    from store.db import ResultsStore, StoreError

    sweep_spec = load_spec(spec)
    overrides = {"executor": executor, "address": address,
                 "ray_cpus_per_task": ray_cpus_per_task,
                 "ray_gpus_per_task": ray_gpus_per_task}  # fmt: skip
    chosen = {key: value for key, value in overrides.items() if value is not None}
    if chosen:
        from dataclasses import replace

        if address is not None and executor is None:
            chosen["executor"] = "ray"
        sweep_spec = replace(sweep_spec, **chosen)
        try:
            validate(sweep_spec)
        except UserError as error:  # the option, not the spec, is at fault
            key = getattr(error, "key", "")
            raise UserError(f"--{key.replace('_', '-')}: {error.reason}") from None  # type: ignore[attr-defined]
    if dry_run:
        print_plan(sweep_spec, as_json, project, db)
        return
    if as_json:
        raise UserError("--json goes with --dry-run; a running sweep reports with --progress jsonl")
    if device is not None:
        from dataclasses import replace

        if device not in ("auto", "cpu", "cuda"):
            raise UserError(f"--device {device!r}: choose auto, cpu or cuda")
        sweep_spec = replace(sweep_spec, device=device)
    plans = plan_sweep(sweep_spec)  # every part validated before the store is touched
    chosen_executor = make_executor(sweep_spec)
    store = ResultsStore(db)
    console = Console(stderr=True)
    started = time.perf_counter()

    # the calibration a dry run cached weighs the ETA (none: it goes by the run rate)
    costs = costs_if_cached(plans, sweep_spec.device, sweep_spec.engine)

    def driver(on_event: Callable[[SweepEvent], None] | None = None) -> SweepDriver:
        return SweepDriver(sweep_spec, store, on_event, chosen_executor, plans, costs)

    try:
        store.initialize()
        if sweep_spec.executor != "local":
            console.print(f"[dim]starting the {sweep_spec.executor} executor[/dim]")
        with chosen_executor:
            summary = _drive(driver, progress, console, sweep_spec.name)
    except StoreError as error:
        raise UserError(str(error)) from None
    seconds = time.perf_counter() - started
    if progress is ProgressStyle.jsonl:
        return
    console.print(
        f"sweep {summary.sweep_id} ({sweep_spec.name}): {summary.runs_done:,} runs complete "
        f"in {seconds:,.1f} s into {store.path}"
    )
    for target, structure in summary.minimal_structures.items():
        console.print(f"minimal structure for {target:.1%}: {structure}")
    if show_leaderboard and (sweep_spec.prune is not None or sweep_spec.include):
        leaderboard(target=None, width=None, init=None, dataset=None, as_json=False, db=store.path)


def _drive(
    driver: Callable[..., SweepDriver],
    progress: ProgressStyle,
    console: Console,
    name: str,
) -> SweepSummary:
    """Run the sweep, reporting as `progress` says."""
    if progress is ProgressStyle.jsonl:
        return driver(lambda e: print(e.as_json(), flush=True)).run()
    if progress is ProgressStyle.none:
        return driver().run()
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TextColumn("{task.fields[eta]}"),
        console=console,
    ) as bar:
        task = bar.add_task(name, total=None, rate="", eta="")

        def show(event: SweepEvent) -> None:
            if event.event == "log":
                bar.console.print(f"[dim]{event.message}[/dim]")
                return
            rate = f"{event.models_per_s:,.1f} runs/s"
            if event.executor == "ray":
                rate += f" · {event.in_flight}/{event.workers} tasks on {event.nodes} node(s)"
            eta = "" if event.eta_s is None else f"ETA {format_duration(event.eta_s)}"
            bar.update(
                task, completed=event.done, total=event.total or None,
                description=event.stage or name, rate=rate, eta=eta,
            )  # fmt: skip

        return driver(show).run()


SUMMARIZED_RUNS = 200_000
"""A dry run lists up to this many runs (to tell which runs parts share); above, it
counts them per part, without listing one."""


def print_plan(
    sweep_spec: SweepSpec, as_json: bool, project: bool = True, db: Path | None = None
) -> None:
    """The runs each part of the spec trains, known before phase 1 runs, how many of them
    the store at `db` already holds (a run skips those), which parts add more once phase
    1 has found its minimal structures, and (`project`) how long the rest should take on
    this machine."""
    import json

    from harness.sweeps.plan import check_size, flatten, plan_sweep, summarize
    from harness.sweeps.projection import labelled

    parts = flatten(sweep_spec)
    if check_size(parts) > SUMMARIZED_RUNS:
        print_counts(sweep_spec, parts, as_json)
        return
    plans = plan_sweep(sweep_spec)
    stored = _stored(plans, db)
    summaries = summarize(plans, stored)
    total = sum(p.new_runs for p in summaries)
    in_store = sum(p.stored for p in summaries)
    projected = _projection(plans, sweep_spec, stored) if project else None
    if as_json:
        parts_json = [p.as_dict() for p in summaries]
        if projected is not None:
            for part, projection in zip(parts_json, projected, strict=True):
                part["projected_s"] = projection.seconds
                part["projected_s_by_class"] = labelled(projection.by_class)
        out = {"spec": sweep_spec.name, "runs": total, "stored": in_store, "parts": parts_json}
        if projected is not None:
            out["projected_s"] = sum(p.seconds for p in projected)
        print(json.dumps(out))
        return

    headers = ["part", "runs", "new", "stored", "then"] + (["projected"] if projected else [])
    seconds = sum(p.seconds for p in projected) if projected else 0.0
    when = f", about {format_duration(seconds)} here" if projected else ""
    held = f" ({in_store:,} of them stored)" if in_store else ""
    table = compact_table(
        *headers,
        title=f"{sweep_spec.name}: {total:,} runs{held}, known before training{when}",
        caption="new: runs no earlier part trains (parts share runs by run key); stored: "
        "new runs the store already holds, which a run skips; then: runs added once "
        "phase 1 has found the minimal structures (not projected); projected: this "
        "machine's time for the new runs not stored, from a calibration per algorithm "
        "and hidden widths" + (_where_time_goes(projected) if projected else ""),
    )  # fmt: skip
    for k, p in enumerate(summaries):
        later = _later(p.phase2_follows, p.prune_follows)
        cells = [p.name, f"{p.runs:,}", f"{p.new_runs:,}", f"{p.stored:,}", later]
        if projected:
            cells.append(format_duration(projected[k].seconds))
        table.add_row(*cells)
    Console().print(fit(table))


def _where_time_goes(projected: list[PartProjection]) -> str:
    """'; most of it: lth from 64-64-64 (44 min), ...': the classes over a tenth of it."""
    from harness.sweeps.projection import main_classes

    big = main_classes(projected)
    return (
        "; most of it: " + ", ".join(f"{k} ({format_duration(s)})" for k, s in big) if big else ""
    )


def _stored(plans: list[PartPlan], db: Path | None) -> set[str]:
    """The plans' run keys the store at `db` holds (none when there is no store yet)."""
    from harness.sweeps.stages import stored_keys
    from store.db import ResultsStore, StoreError

    try:
        return stored_keys([unit for plan in plans for unit in plan.units], ResultsStore(db))
    except StoreError as error:
        raise UserError(str(error)) from None


def _projection(
    plans: list[PartPlan], sweep_spec: SweepSpec, stored: set[str]
) -> list[PartProjection] | None:
    """Each part's projection for its runs not `stored` (calibrating uncached classes
    first, with a note)."""
    from harness.sweeps.projection import cached_costs, project
    from harness.training.engines.select import resolve_device

    device = str(resolve_device(sweep_spec.device))
    costs = cached_costs(plans, device, sweep_spec.engine, calibrate_missing=False)
    if costs is None:
        Console(stderr=True).print(
            "calibrating this machine for the projection (once per algorithm and hidden widths; "
            "--no-project skips it)…"
        )
        costs = cached_costs(plans, device, sweep_spec.engine)
    return project(plans, costs, stored) if costs else None


def _later(phase2_follows: bool, prune_follows: bool) -> str:
    later = [name for name, follows in (("phase 2", phase2_follows), ("pruning", prune_follows))
             if follows]  # fmt: skip
    return " + ".join(later) or "-"


def print_counts(sweep_spec: SweepSpec, parts: list[SweepSpec], as_json: bool) -> None:
    """A large spec's runs per part, counted (runs parts share are counted in each)."""
    import json

    from harness.sweeps.plan import count_part

    counts = [count_part(part) for part in parts]
    total = sum(sum(c.values()) for c in counts)
    rows = [
        {
            "name": part.name, "runs": sum(c.values()),
            "phase2_follows": bool(part.search and part.search.phase2
                                   and part.search.structure is None),
            "prune_follows": bool(part.prune and part.prune.from_search),
            "epochs": part.epochs, "by_algorithm": dict(c),
        }
        for part, c in zip(parts, counts, strict=True)
    ]  # fmt: skip
    if as_json:
        print(json.dumps({"spec": sweep_spec.name, "runs": total, "counted": True, "parts": rows}))
        return
    table = compact_table(
        "part", "runs", "then",
        title=f"{sweep_spec.name}: {total:,} runs to train, known before training",
        caption="counted per part, not listed (over "
        f"{SUMMARIZED_RUNS:,} runs): runs that parts share count in each; then: runs added "
        "once phase 1 has found the minimal structures",
    )  # fmt: skip
    for r in rows:
        later = _later(bool(r["phase2_follows"]), bool(r["prune_follows"]))
        table.add_row(str(r["name"]), f"{r['runs']:,}", later)
    Console().print(fit(table))


def register(app: typer.Typer) -> None:
    app.command()(run)
