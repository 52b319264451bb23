"""`sparsest bench`: how fast the harness trains, against the plain one-model loop."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from harness.cli.tables import compact_table, fit
from harness.errors import UserError

if TYPE_CHECKING:
    from harness.bench.bench import BenchRow

# harness.bench.suites.SUITES's names (that module imports torch); a test keeps them equal
TRAINING_SUITES = ("train", "search", "prune")
# and the app's start-up and key response (harness.bench.tui_suite)
SUITE_NAMES = (*TRAINING_SUITES, "overparam", "ray", "tui")
# columns that move to the title when every row has the same value
SHARED = ("width", "population", "device", "engine")
LEGEND = (
    "rate, baseline: model-epochs/s of the harness and of the plain loop; compile s: "
    "warm-up with kernel compilation, not in the rates"
)
SEARCH_LEGEND = (
    "epoch s: one epoch of the population; other s: building, evaluating and recording "
    "it; paper 95%: the paper's 95% phase 2 at these costs (projected)"
)

TUI_LEGEND = (
    "start-up: from launching the process on a pseudo-terminal to its first frame, and to "
    "the first frame showing the leaderboard; key response: from posting a key to the first "
    "screen update showing its effect. Figures only: the targets are a first frame under "
    "2 s through the CLI, and a median key response under 100 ms"
)

Column = tuple[str, Callable[[Any], str]]  # a header, and a row's cell


def bench(
    suite: Annotated[
        str, typer.Option(help=f"Which benchmark: {', '.join(SUITE_NAMES)}.")
    ] = "train",
    population: Annotated[
        int | None,
        typer.Option(
            min=1, help="Models trained at once (default: train 1024, search 1024, prune 256)."
        ),
    ] = None,
    epochs: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Epochs the population is timed over; prune: epochs per training "
            "(default: train 10, search 5, prune 20: the study trains for 50, and IMP's 200 "
            "pruning events crammed into one epoch would misstate its cost).",
        ),
    ] = None,
    device: Annotated[
        str, typer.Option(help="auto, cpu or cuda (the population's device).")
    ] = "auto",
    torch_threads: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Torch threads on the harness's side (default: torch's own); the baselines "
            "always run on one.",
        ),
    ] = None,
    runs: Annotated[
        int, typer.Option(min=1, help="tui: runs in the generated store the app opens.")
    ] = 100_000,
    repeat: Annotated[int, typer.Option(min=1, help="tui: start-ups timed each way.")] = 3,
    keys: Annotated[int, typer.Option(min=2, help="tui: key presses timed.")] = 40,
    load: Annotated[
        str,
        typer.Option(
            help="tui: what runs while the keys are timed: sweep (a `sparsest run`), busy "
            "(a process keeping a CPU busy) or none."
        ),
    ] = "sweep",
    spec: Annotated[
        str, typer.Option(help="ray: the preset or spec file swept three times.")
    ] = "quick",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Model-epochs per second of the harness and of the plain one-model loop, measured in
    one run.

    train: the population trainer at hidden widths 3,3,3 and 16,16,16 against the
    reference loop (nn.Module, torch SGD, a shuffling DataLoader, one torch thread; timed
    over part of an epoch and extrapolated). search: phase 2 on (3,3,3) masks end to end,
    and the projected time of the paper's 95% phase 2. prune: each algorithm's run,
    pruning included, at width 16,16,16 and 20 weights, against the same algorithm on one
    model. Kernel compilation is timed separately (compile_s) and left out of the rates.
    overparam: numpy's float32 matmul rate, dense width-256 training as a share of it,
    compacted against masked dense training of width-256 models pruned to 40 weights, and
    the projected time of paper-overparam and paper on this machine (a few minutes).
    ray: --spec swept by the local executor, then by Ray (a private local instance) with
    a worker per core and with one worker, the cost of an empty task, and the projected
    time on N machines like this one (needs the ray extra; a few minutes for quick).
    tui: the app's start-up (to its first frame, and to the leaderboard) on a store of
    --runs runs, and its response to a key while a sweep trains, in milliseconds."""
    if suite == "tui":
        _bench_tui(runs, repeat, keys, load, as_json)
        return
    if suite == "overparam":
        _bench_overparam(population or 32, as_json)
        return
    if suite == "ray":
        _bench_ray(spec, as_json)
        return
    from harness.bench.bench import BenchOptions
    from harness.bench.suites import SUITES
    from harness.training.engines.select import resolve_device

    if suite not in SUITES:
        raise UserError(f"unknown suite {suite!r}; choose one of: {', '.join(SUITE_NAMES)}")
    chosen = SUITES[suite]
    options = BenchOptions(
        population=population or chosen.population,
        epochs=epochs or chosen.epochs,
        device=str(resolve_device(device)),
        torch_threads=torch_threads,
    )
    rows = chosen.run(options)
    if as_json:
        typer.echo(json.dumps([dataclasses.asdict(row) for row in rows]))
        return
    caption = chosen.caption.format(**dataclasses.asdict(rows[0])) if rows else ""
    Console().print(_table(suite, rows, caption))


def _bench_tui(runs: int, repeat: int, keys: int, load: str, as_json: bool) -> None:
    from harness.bench.tui_suite import LOADS, TuiOptions, tui_suite

    if load not in LOADS:
        raise UserError(f"unknown load {load!r}; choose one of: {', '.join(LOADS)}")
    rows = tui_suite(TuiOptions(runs=runs, repeat=repeat, keys=keys, load=load))
    if as_json:
        typer.echo(json.dumps([dataclasses.asdict(row) for row in rows]))
        return
    table = compact_table(
        "measure", "how", "samples", "median ms", "p95 ms", "note",
        title="bench tui",
        caption=TUI_LEGEND,
    )  # fmt: skip
    for row in rows:
        table.add_row(
            row.measure, row.how, str(row.samples), _ms(row.median_ms), _ms(row.p95_ms), row.note
        )
    Console().print(fit(table, prose=("note",)))


def _bench_overparam(models: int, as_json: bool) -> None:
    from harness.bench.overparam import overparam_figures
    from harness.timefmt import format_duration

    figures = dataclasses.asdict(overparam_figures(models=models))
    if as_json:
        typer.echo(json.dumps(figures))
        return
    table = compact_table("measure", "value", title=f"bench overparam; cpu {figures['cpu']}")
    for key, value in figures.items():
        if key == "cpu":
            continue
        shown = format_duration(value) if key.startswith("projected_") else f"{value:,.3g}"
        table.add_row(key, shown)
    Console().print(fit(table))


def _bench_ray(spec: str, as_json: bool) -> None:
    from harness.sweeps.ray_executor import require_ray

    require_ray()
    from harness.bench.executors import executor_figures
    from harness.sweeps.spec_file import load_spec
    from harness.timefmt import format_duration

    load_spec(spec)  # a bad spec fails before anything is timed
    figures = dataclasses.asdict(executor_figures(spec))
    if as_json:
        typer.echo(json.dumps(figures))
        return
    title = f"bench ray; {figures['spec']}, {figures['runs']:,} runs; cpu {figures['cpu']}"
    table = compact_table("measure", "value", title=title)
    for key, value in figures.items():
        if key in ("cpu", "spec", "runs"):
            continue
        if key == "projected_s":
            for machines, seconds in value.items():
                table.add_row(f"projected on {machines} machine(s)", format_duration(seconds))
        elif key == "ray_overhead":
            table.add_row(key, f"{value:+.1%}")
        else:
            table.add_row(key, f"{value:,.3g}")
    Console().print(fit(table))


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}"


def _columns(rows: Sequence[BenchRow]) -> tuple[list[Column], list[str]]:
    """The table's columns, and the caption lines that explain their headers."""
    from harness.bench.suites import PruneRow, SearchRow
    from harness.timefmt import format_duration

    first: list[Column] = []
    last: list[Column] = []
    legend = [LEGEND]
    if rows and isinstance(rows[0], PruneRow):
        first = [
            ("algorithm", lambda r: r.algorithm),
            ("epochs", lambda r: str(r.epochs_trained)),
        ]
    if rows and isinstance(rows[0], SearchRow):
        last = [
            ("epoch s", lambda r: f"{r.epoch_s:.2f}"),
            ("other s", lambda r: f"{r.overhead_s:.2f}"),
            ("paper 95%", lambda r: format_duration(r.projected_paper_95_s)),
        ]
        legend.append(SEARCH_LEGEND)
    columns: list[Column] = [
        *first,
        ("width", lambda r: ",".join(map(str, r.width))),
        ("population", lambda r: str(r.population)),
        ("rate", lambda r: f"{r.model_epochs_per_s:,.0f}"),
        ("baseline", lambda r: f"{r.baseline_model_epochs_per_s:,.1f}"),
        ("speedup", lambda r: f"{r.speedup:,.0f}x"),
        ("device", lambda r: r.device),
        ("engine", lambda r: r.engine),
        ("compile s", lambda r: f"{r.compile_s:.1f}"),
        *last,
    ]
    return columns, legend


def _table(suite: str, rows: Sequence[BenchRow], caption: str) -> Table:
    """The shared columns with one value in every row go to the title; the short headers
    are explained in the caption, after how the suite measures."""
    columns, legend = _columns(rows)
    shared = [
        (header, cell)
        for header, cell in columns
        if header in SHARED and rows and len({cell(row) for row in rows}) == 1
    ]
    kept = [column for column in columns if column not in shared]
    title = "; ".join([f"bench {suite}", *(f"{h} {cell(rows[0])}" for h, cell in shared)])
    table = compact_table(
        *(header for header, _ in kept),
        title=title,
        caption="\n".join([caption, *legend] if caption else legend),
    )
    for row in rows:
        table.add_row(*(cell(row) for _, cell in kept))
    return fit(table)


def register(app: typer.Typer) -> None:
    app.command()(bench)
