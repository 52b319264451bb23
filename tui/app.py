"""The app: five screens as modes, a store probe on a timer, sweeps as subprocesses.

`make_app(db_path)` is the one way to build it (the CLI's `sparsest tui`, the tests and
tests/tui/snapshot_app.py). Screens live in tui/screens, background work in tui/workers.py;
this module only wires them and turns any worker failure into one notification.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

from textual import on, work
from textual.app import App
from textual.binding import Binding, BindingType
from textual.notifications import SeverityLevel
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from store.db import ResultsStore, resolve_path
from tui.config import AppConfig
from tui.messages import OpenRun, StoreChanged, SweepUpdated
from tui.screens.builder import BuilderScreen
from tui.screens.inspector import InspectorScreen
from tui.screens.leaderboard import LeaderboardScreen
from tui.screens.runs import RunsScreen
from tui.screens.sql import SqlScreen
from tui.workers import DEFAULT_RUNNER, LiveSweep, StoreVersion, SweepManager, one_line, probe

MODE_KEYS = (
    ("builder", "Build"),
    ("runs", "Runs"),
    ("leaderboard", "Board"),
    ("inspector", "Model"),
    ("sql", "SQL"),
)
NOTIFY_SEVERITY: dict[str, SeverityLevel] = {
    "done": "information",
    "failed": "error",
    "interrupted": "warning",
}
"""How a sweep this app runs is announced when it ends (a cancelled one is not)."""


class SparsestApp(App[None]):
    """Sparsest's terminal UI. F1-F5 (or 1-5 outside a text box) switch screens."""

    CSS_PATH = "app.tcss"
    TITLE = "Sparsest"
    HORIZONTAL_BREAKPOINTS: ClassVar[list[tuple[int, str]]] = [
        (0, "-narrow"),
        (110, "-wide"),
        (160, "-xwide"),
    ]
    MODES: ClassVar[dict[str, str | Callable[[], Screen[Any]]]] = {
        "builder": BuilderScreen,
        "runs": RunsScreen,
        "leaderboard": LeaderboardScreen,
        "inspector": InspectorScreen,
        "sql": SqlScreen,
    }
    BINDINGS: ClassVar[list[BindingType]] = [
        *(
            Binding(f"f{n},{n}", f"switch_mode('{mode}')", label, key_display=f"F{n}")
            for n, (mode, label) in enumerate(MODE_KEYS, start=1)
        ),
        Binding("ctrl+q", "quit", "Quit", priority=True),
    ]

    def __init__(self, config: AppConfig) -> None:
        super().__init__()
        self.config = config
        self.store = ResultsStore(config.db_path, lock_timeout=2.0)
        self.sweeps = SweepManager(
            config.db_path, config.runner, self._sweep_changed, config.spec_dir
        )
        self.version: StoreVersion | str | None = None
        self._quit_armed = False
        self._announced: set[int] = set()

    def on_mount(self) -> None:
        self.switch_mode(self.config.start_mode)
        self.set_interval(self.config.poll_interval, self.poll_store)
        self.poll_store()
        if self.config.preload:
            self.set_timer(0.5, self._preload)

    # -- the store -----------------------------------------------------------------------

    def poll_store(self) -> None:
        self._probe()

    @work(thread=True, exclusive=True, group="probe", exit_on_error=False)
    def _probe(self) -> None:
        version = probe(self.store)
        self.call_from_thread(self._apply_version, version)

    def _apply_version(self, version: StoreVersion | str) -> None:
        if version != self.version:
            self.version = version
            self.screen.post_message(StoreChanged(version))

    @work(thread=True, group="preload", exit_on_error=False)
    def _preload(self) -> None:
        from tui import harness_api

        harness_api.load_info()

    # -- sweeps --------------------------------------------------------------------------

    def launch_sweep(self, name: str, spec_toml: str) -> LiveSweep:
        """Write the spec, start `sparsest run` on it in the background, follow it."""
        sweep = self.sweeps.prepare(name, spec_toml)
        self.run_worker(
            self.sweeps.run(sweep), name=f"sweep {name}", group="sweeps", exit_on_error=False
        )
        return sweep

    def cancel_sweep(self, sweep: LiveSweep) -> None:
        self.run_worker(self.sweeps.cancel(sweep), group="cancel", exit_on_error=False)

    def _sweep_changed(self, sweep: LiveSweep) -> None:
        self.screen.post_message(SweepUpdated(sweep))
        if sweep.status in NOTIFY_SEVERITY and sweep.key not in self._announced:
            self._announced.add(sweep.key)
            self.poll_store()
            severity = NOTIFY_SEVERITY[sweep.status]
            detail = f": {sweep.message}" if sweep.message else ""
            self.notify(f"sweep {sweep.name} {sweep.status}{detail}", severity=severity)

    # -- navigation and failures ---------------------------------------------------------

    @on(OpenRun)
    async def _open_run(self, message: OpenRun) -> None:
        await self.switch_mode("inspector")
        screen = self.screen
        if isinstance(screen, InspectorScreen):
            screen.show_run(message.run_key)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        self.worker_changed(event.worker, event.state)

    def worker_changed(self, worker: Worker[object], state: WorkerState) -> None:
        """The one place a failed background task becomes visible: one notification.
        (Worker state messages do not bubble: screens forward theirs here.)"""
        if state is WorkerState.ERROR and worker.error is not None:
            self.notify(
                one_line(worker.error),
                title=f"{worker.name or 'background task'} failed",
                severity="error",
                timeout=10,
            )

    async def action_quit(self) -> None:
        running = self.sweeps.running()
        if running and not self._quit_armed:
            self._quit_armed = True
            self.notify(
                f"{len(running)} sweep(s) still running: ctrl+q again stops them "
                "(results so far are kept; rerun to resume) and quits",
                severity="warning",
            )
            return
        for sweep in running:
            await self.sweeps.cancel(sweep, grace_s=1.0)
        self.exit()

    async def on_unmount(self) -> None:
        await self.sweeps.stop_all()


def make_app(
    db_path: str | os.PathLike[str] | None = None,
    *,
    runner: Sequence[str] = DEFAULT_RUNNER,
    throughput: float | None = None,
    poll_interval: float = 1.5,
    spec_dir: str | os.PathLike[str] | None = None,
    start_mode: str = "leaderboard",
    preload: bool = True,
) -> SparsestApp:
    """The app over the store at `db_path` (default $SPARSEST_DB or ./sparsest.duckdb).
    See tui.config.AppConfig for the other arguments."""
    if start_mode not in SparsestApp.MODES:
        raise ValueError(f"start_mode: choose one of {', '.join(SparsestApp.MODES)}")
    config = AppConfig(
        db_path=resolve_path(db_path),
        runner=tuple(runner),
        throughput=throughput,
        poll_interval=poll_interval,
        spec_dir=Path(spec_dir) if spec_dir is not None else None,
        start_mode=start_mode,
        preload=preload,
    )
    return SparsestApp(config)
