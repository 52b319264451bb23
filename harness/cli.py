"""The `sparsest` command line (Typer). Commands live in harness/commands/, one module
per group, each with `register(app)`; this module only assembles them and turns the
errors users can cause into one-line messages."""

from __future__ import annotations

import importlib
import sys

import typer

from harness.errors import UserError

COMMAND_MODULES = ("datasets", "train")

app = typer.Typer(
    name="sparsest",
    help="How close do pruning algorithms get to the sparsest network? "
    "Train populations, search exhaustively, prune, compare.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

for _name in COMMAND_MODULES:
    importlib.import_module(f"harness.commands.{_name}").register(app)


def main() -> None:
    try:
        app()
    except UserError as error:
        message = error.args[0] if error.args else str(error)
        print(f"error: {message}", file=sys.stderr)
        raise SystemExit(2) from None
