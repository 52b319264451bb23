"""What every screen shares: the app's store and sweeps (through the SparsestHost
protocol, not the app class), and reloading on store changes."""

from __future__ import annotations

from typing import cast

from textual import on
from textual.screen import Screen
from textual.worker import Worker

from tui.messages import StoreChanged
from tui.screens.host import SparsestHost
from tui.workers import StoreVersion


class SparsestScreen(Screen[None]):
    """A screen that shows the store: `reload()` runs when the store changes while the
    screen is shown, and when it is shown again after the store changed."""

    TITLE = ""

    def __init__(self) -> None:
        super().__init__()
        self.seen_version: StoreVersion | str | None = None

    @property
    def sparsest(self) -> SparsestHost:
        """The app, as far as screens may use it (tui.screens.host)."""
        return cast(SparsestHost, self.app)

    def on_mount(self) -> None:
        self.title = self.TITLE
        self.sub_title = self.sparsest.config.db_path.name

    @on(StoreChanged)
    def _store_changed(self, message: StoreChanged) -> None:
        self._maybe_reload(message.version)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        self.sparsest.worker_changed(event.worker, event.state)

    def on_screen_resume(self) -> None:
        self._maybe_reload(self.sparsest.version)

    def _maybe_reload(self, version: StoreVersion | str | None) -> None:
        if version is None or version == self.seen_version:
            return
        self.seen_version = version
        self.reload(version)

    def reload(self, version: StoreVersion | str) -> None:
        """Read what this screen shows from the store (in a thread worker)."""
