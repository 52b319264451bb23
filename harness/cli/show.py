"""`sparsest show RUN_KEY` and `sparsest plot OUT.png`: look at one model, or at all."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from harness.errors import UserError

DbOption = Annotated[
    Path | None,
    typer.Option("--db", help="Results store (default $SPARSEST_DB or ./sparsest.duckdb)."),
]


def show(
    run_key: Annotated[str, typer.Argument(help="A run key (or a unique prefix of one).")],
    png: Annotated[
        Path | None, typer.Option(help="Also draw the decision boundary to this PNG.")
    ] = None,
    db: DbOption = None,
) -> None:
    """One model: hyper-parameters, metrics, its masks with connectivity, and its decision
    boundary over the input plane with the data points."""
    from harness.model_view import (
        BoundaryPicture,
        dataset_points,
        details,
        model_view,
        network_text,
        pixels,
    )
    from store import queries
    from store.db import ResultsStore, StoreError

    if png is not None:
        check_image(png)
    try:
        stored = queries.run(ResultsStore(db), run_key)
    except StoreError as error:
        raise UserError(str(error)) from None
    if stored is None:
        raise UserError(f"no run with key {run_key!r}")
    view = model_view(stored)
    console = Console()
    table = Table(show_header=False, title=f"run {view.record.run_key}")
    for name, value in details(view):
        table.add_row(name, value)
    console.print(table)
    console.print(network_text(view))
    if view.weights is None:
        console.print("[yellow]stored without weights (widths over 16): no boundary[/yellow]")
        return
    x, y = dataset_points(view.record.dataset)
    columns = min(80, console.width)
    console.print(BoundaryPicture(pixels(view, x, y, columns, 48), "decision boundary"))
    if png is not None:
        image = pixels(view, x, y, 400, 400)
        _boundary_png(image, png, f"{view.record.algorithm} {view.record.widths}")
        console.print(f"wrote {png}")


def _boundary_png(image, out: Path, title: str) -> None:  # type: ignore[no-untyped-def]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 6))
    ax.imshow(image)
    ax.set_axis_off()
    ax.set_title(title)
    _save(fig, out)


def check_image(out: Path) -> None:
    """Refuse a file name whose suffix is not an image format matplotlib writes."""
    from matplotlib.backend_bases import FigureCanvasBase

    formats = FigureCanvasBase.get_supported_filetypes()
    if out.suffix.lstrip(".").lower() not in formats:
        raise UserError(
            f"cannot tell the image format of {out}: end it in .png, .pdf or .svg "
            f"(or .{', .'.join(sorted(f for f in formats if f not in ('png', 'pdf', 'svg')))})"
        )


def _save(fig, out: Path) -> None:  # type: ignore[no-untyped-def]
    try:
        fig.savefig(out, dpi=120, bbox_inches="tight")
    except OSError as error:
        raise UserError(f"cannot write {out}: {error.strerror}") from None


def plot(
    out: Annotated[Path, typer.Argument(help="The PNG (or PDF/SVG) to write.")],
    width: Annotated[int | None, typer.Option(help="Only pruning runs from this width.")] = None,
    init: Annotated[
        str | None, typer.Option(help="Only runs with this init: random or fixed.")
    ] = None,
    dataset: Annotated[str | None, typer.Option(help="Only this dataset.")] = None,
    db: DbOption = None,
) -> None:
    """Best accuracy reachable with at most N weights, one curve per algorithm, with the
    search's optimal frontier (black) and the accuracy targets (dashed)."""
    import matplotlib

    from harness.cli.store import check_filters
    from store import queries
    from store.db import ResultsStore, StoreError

    check_filters(width=width, init=init)
    check_image(out)
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    store = ResultsStore(db)
    try:
        rows = queries.pareto(store, width=width, init_mode=init, dataset=dataset)
        targets = store.targets()
    except StoreError as error:
        raise UserError(str(error)) from None
    if not rows:
        raise UserError(f"nothing to plot: {store.path} has no runs matching")
    curves: dict[str, list[tuple[int, float]]] = {}
    for row in rows:
        if row.best_accuracy is not None:
            curves.setdefault(row.algorithm, []).append((row.weight_nnz, row.best_accuracy))
    fig, ax = plt.subplots(figsize=(8, 5))
    ax.set_prop_cycle(color=plt.cm.tab20.colors)
    for name, points in sorted(curves.items(), key=lambda item: item[0] != "search"):
        points.sort()
        xs = [x for x, _ in points]
        best = list(itertools.accumulate((y for _, y in points), max))  # best at <= nnz
        if name == "search":
            ax.step(xs, best, "k-", where="post", lw=2.5, label="search (optimal)", zorder=5)
        else:
            ax.step(xs, best, where="post", lw=1.2, label=name)
    for target in targets:
        ax.axhline(target, color="grey", lw=0.6, ls="--")
    ax.set_xscale("log")
    ax.set_xlabel("weight nnz")
    ax.set_ylabel("best accuracy with at most this many weights")
    ax.set_ylim(0.45, 1.005)
    ax.legend(fontsize=8, ncol=2)
    ax.set_title("best accuracy per weight nnz: pruning vs the combinatorial search")
    _save(fig, out)
    typer.echo(f"wrote {out}")


def register(app: typer.Typer) -> None:
    app.command()(show)
    app.command()(plot)
