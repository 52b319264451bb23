"""The `sparsest` command line (Typer). Commands live in harness/cli/, one module
per group, each with `register(app)`; this module only assembles them and turns the
errors users can cause into one-line messages. Command modules import torch, numba and
the heavy harness modules inside the commands, so `--help` and the store's commands
start quickly."""

from __future__ import annotations

import importlib
import inspect
import os
import sys

import typer

from harness.errors import UserError

COMMAND_MODULES = (
    "run",
    "presets",
    "search",
    "prune",
    "store",
    "show",
    "tui",
    "train",
    "bench",
    "datasets",
)


def flowing(doc: str) -> str:
    """A docstring's hard-wrapped lines joined into flowing paragraphs, as Typer's rich help
    (which keeps single newlines) should show them. Blank lines and click's \\b verbatim
    paragraphs are kept; text after \\f is dropped, as Typer drops it."""
    paragraphs = inspect.cleandoc(doc).partition("\f")[0].split("\n\n")
    return "\n\n".join(p if p.startswith("\b") else " ".join(p.split()) for p in paragraphs)


app = typer.Typer(
    name="sparsest",
    help="How close do pruning algorithms get to the sparsest network? "
    "Train populations, search exhaustively, prune, compare.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

for _name in COMMAND_MODULES:
    importlib.import_module(f"harness.cli.{_name}").register(app)
for _info in app.registered_commands:
    if _info.help is None and _info.callback is not None and _info.callback.__doc__:
        _info.help = flowing(_info.callback.__doc__)


def main() -> None:
    """Entry point: a UserError is one line and exit 2; any other failure is one line and
    exit 1 (SPARSEST_DEBUG=1 shows the traceback)."""
    try:
        app()
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        print("interrupted: results written so far are kept; rerun to resume", file=sys.stderr)
        raise SystemExit(130) from None
    except Exception as error:
        if os.environ.get("SPARSEST_DEBUG"):
            raise
        print(
            f"internal error: {type(error).__name__}: {error} (SPARSEST_DEBUG=1 for the traceback)",
            file=sys.stderr,
        )
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
