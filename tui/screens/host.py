"""What a screen needs from the app it runs in, as a Protocol: screens depend on this,
never on tui.app (which imports every screen)."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from textual.worker import Worker, WorkerState

from store.db import ResultsStore
from tui.config import AppConfig
from tui.workers import LiveSweep, StoreVersion, SweepManager


@runtime_checkable
class SparsestHost(Protocol):
    """The app as the screens see it (tui.app.SparsestApp is one): its settings, the
    store, the sweeps it runs, and the one place a failed worker is reported."""

    @property
    def config(self) -> AppConfig: ...

    @property
    def store(self) -> ResultsStore: ...

    @property
    def sweeps(self) -> SweepManager: ...

    @property
    def version(self) -> StoreVersion | str | None:
        """The store's version at the last probe (None before the first)."""
        ...

    def launch_sweep(self, name: str, spec_toml: str) -> LiveSweep:
        """Write the spec, start `sparsest run` on it in the background, follow it."""
        ...

    def cancel_sweep(self, sweep: LiveSweep) -> None: ...

    def worker_changed(self, worker: Worker[object], state: WorkerState) -> None:
        """Report a failed background task (as one notification)."""
        ...
