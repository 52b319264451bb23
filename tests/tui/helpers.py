"""Helpers for the app's tests: a fake sweep runner, an app on a store, a wait helper."""

from __future__ import annotations

import asyncio
import io
import sys
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from textual.pilot import Pilot
from textual.widgets import Static

from tui.app import SparsestApp, make_app

FAKE_RUNNER = Path(__file__).with_name("fake_runner.py")


def fake_runner(*options: str) -> tuple[str, ...]:
    return (sys.executable, str(FAKE_RUNNER), *options)


def app_on(
    db: Path, tmp_path: Path, start_mode: str = "leaderboard", *runner_options: str
) -> SparsestApp:
    return make_app(
        db, runner=fake_runner(*runner_options), spec_dir=tmp_path, poll_interval=0.2,
        start_mode=start_mode, preload=False,
    )  # fmt: skip


async def wait_for(
    pilot: Pilot[None], predicate: Callable[[], bool], timeout: float = 20.0
) -> None:
    """Let the app run until `predicate()` holds (or fail after `timeout` seconds)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for the app")
        await pilot.pause(0.05)


def text_of(widget: Static) -> str:
    """What a Static shows, as plain text (its content may be a rich renderable)."""
    console = Console(width=200, file=io.StringIO(), record=True)
    console.print(widget.content)
    return console.export_text()
