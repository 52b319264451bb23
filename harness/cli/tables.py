"""Result tables that fit an 80-column terminal: light borders, and values never cut."""

from __future__ import annotations

from collections.abc import Collection

from rich import box
from rich.cells import cell_len
from rich.table import Table


def compact_table(*headers: str, title: str, caption: str | None = None) -> Table:
    """A table with a rule under the header, no side borders and two spaces between
    columns, at least as wide as its title; the caption (where the short headers are
    explained) is dim and left-aligned."""
    return Table(
        *headers,
        title=title,
        min_width=cell_len(title),
        caption=caption,
        caption_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        collapse_padding=True,
    )


def fit(table: Table, prose: Collection[str] = ()) -> Table:
    """Keep every column at least as wide as its widest value, so a narrow terminal wraps
    headers (and the `prose` columns, named by header) but never truncates a value.
    Call it after the rows are added."""
    for column in table.columns:
        if column.header in prose:
            continue
        lines = [line for cell in column.cells for line in str(cell).splitlines()]
        column.min_width = max(map(cell_len, lines), default=None)
    return table
