"""Option parsing shared by commands: comma lists, devices, the progress bar."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from harness.errors import UserError

if TYPE_CHECKING:
    from rich.progress import Progress

T = TypeVar("T")


def parse_list(text: str, kind: Callable[[str], T], what: str) -> list[T]:
    """'1,2,3' -> [1, 2, 3]; a bad item is a one-line UserError naming `what`."""
    items = [item.strip() for item in text.split(",") if item.strip()]
    if not items:
        raise UserError(f"{what}: expected a comma-separated list, got {text!r}")
    try:
        return [kind(item) for item in items]
    except ValueError:
        raise UserError(f"{what}: cannot read {text!r} as a list of {kind.__name__}") from None


def parse_lrs(text: str, what: str = "--lrs") -> list[float]:
    """'0.05,0.1' -> [0.05, 0.1]; each must be finite and positive (no inf, nan, 0)."""
    lrs = parse_list(text, float, what)
    bad = [lr for lr in lrs if not (math.isfinite(lr) and lr > 0)]
    if bad:
        raise UserError(f"{what}: learning rates must be finite and positive, got {bad[0]}")
    return lrs


def progress_bar(label: str, disable: bool) -> Progress:
    """The transient bar long commands show (hidden under --json)."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(
        TextColumn(label),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeRemainingColumn(),
        disable=disable,
        transient=True,
    )
