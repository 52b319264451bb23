"""Messages the app routes between its workers and screens."""

from __future__ import annotations

from textual.message import Message

from tui.workers import LiveSweep, StoreVersion


class StoreChanged(Message):
    """The store has new runs or sweeps (or became readable, or stopped being)."""

    def __init__(self, version: StoreVersion | str) -> None:
        super().__init__()
        self.version = version


class SweepUpdated(Message):
    """A sweep this app started changed state (progress, stage, done, failed, ...)."""

    def __init__(self, sweep: LiveSweep) -> None:
        super().__init__()
        self.sweep = sweep


class OpenRun(Message):
    """Show this run (key or unique key prefix) in the model inspector."""

    def __init__(self, run_key: str) -> None:
        super().__init__()
        self.run_key = run_key
