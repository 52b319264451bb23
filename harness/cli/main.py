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

from algorithms.plugins import set_reporter
from harness.errors import UserError

COMMAND_MODULES = (
    "run",
    "presets",
    "search",
    "prune",
    "store",
    "show",
    "report",
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

# A plug-in that fails to load is one line on stderr when a command first needs the
# algorithms; the command goes on without it.
set_reporter(lambda line: print(f"warning: {line}", file=sys.stderr))

for _name in COMMAND_MODULES:
    importlib.import_module(f"harness.cli.{_name}").register(app)
for _info in app.registered_commands:
    if _info.help is None and _info.callback is not None and _info.callback.__doc__:
        _info.help = flowing(_info.callback.__doc__)


INTERRUPTED = "interrupted: results written so far are kept; rerun to resume"


def click_kind(error: BaseException) -> str | None:
    """'NoArgsIsHelpError', 'UsageError' or 'ClickException' for click's errors (whether
    Typer vendors click or not, so matched by class name), else None."""
    names = {cls.__name__ for cls in type(error).__mro__}
    kinds = ("NoArgsIsHelpError", "UsageError", "ClickException")
    return next((kind for kind in kinds if kind in names), None)


def click_line(error: Exception) -> str:
    """A click error (bad option value, unknown option or command) as one line."""
    message = " ".join(error.format_message().split())  # type: ignore[attr-defined]
    ctx = getattr(error, "ctx", None)
    if click_kind(error) != "UsageError" or ctx is None:
        return message
    return f"{message} (see {ctx.command_path} --help)"


def main(args: list[str] | None = None) -> None:
    """Entry point: a usage error or a UserError is one line and exit 2; Ctrl-C is exit
    130 (results written so far are kept); any other failure is one line and exit 1
    (SPARSEST_DEBUG=1 shows the traceback). Typer runs outside standalone mode, so its
    errors reach this function instead of printing boxed messages."""
    try:
        code = app(args=args, standalone_mode=False)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        code = 130
    except typer.Abort:  # end of input at a prompt
        print("aborted", file=sys.stderr)
        raise SystemExit(1) from None
    except Exception as error:
        fail(error)
    if code == 130:  # Typer turns Ctrl-C into exit code 130
        print(INTERRUPTED, file=sys.stderr)
    raise SystemExit(code if isinstance(code, int) else 0)


def fail(error: Exception) -> None:
    """Exit on an error that is not a UserError: click's in one line (no arguments: the
    help), anything else as an internal error."""
    kind = click_kind(error)
    if kind == "NoArgsIsHelpError":
        ctx = getattr(error, "ctx", None)
        print(ctx.get_help() if ctx is not None else "", file=sys.stderr)
        raise SystemExit(2) from None
    if kind is not None:
        print(f"error: {click_line(error)}", file=sys.stderr)
        raise SystemExit(getattr(error, "exit_code", 2)) from None
    if os.environ.get("SPARSEST_DEBUG"):
        raise error
    print(
        f"internal error: {type(error).__name__}: {error} (SPARSEST_DEBUG=1 for the traceback)",
        file=sys.stderr,
    )
    raise SystemExit(1) from None


if __name__ == "__main__":
    main()
