"""`sparsest presets`: the named sweeps, and the TOML behind each."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.syntax import Syntax
from rich.table import Table


def _describe(name: str) -> str:
    from harness.sweeps.spec_file import preset_text

    text = preset_text(name)
    comments = [line.lstrip("# ").strip() for line in text.splitlines() if line.startswith("#")]
    return " ".join(comments)


def presets(
    show: Annotated[str | None, typer.Option(help="Print the TOML of this preset.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List the presets that `sparsest run NAME` runs (copy one with --show to edit it:
    redirected, --show prints the preset's file as it is)."""
    from harness.sweeps.spec_file import load_spec, preset_names, preset_text

    if show is not None:
        text = preset_text(show)
        if as_json:
            typer.echo(json.dumps({"name": show, "toml": text}))
        elif sys.stdout.isatty():
            Console().print(Syntax(text, "toml", word_wrap=True))
        else:  # redirected: the file's bytes, to save and edit
            sys.stdout.write(text)
        return
    rows = []
    for name in preset_names():
        spec = load_spec(name)
        rows.append({"name": name, "description": _describe(name), "include": list(spec.include)})
    if as_json:
        typer.echo(json.dumps(rows))
        return
    table = Table("preset", "what it runs", title="presets (sparsest run NAME)")
    for row in rows:
        table.add_row(row["name"], row["description"] or "runs " + ", ".join(row["include"]))
    Console().print(table)


def register(app: typer.Typer) -> None:
    app.command()(presets)
