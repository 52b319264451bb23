"""Background work: sweeps as subprocesses, and a cheap probe of the store.

A sweep the app launches is an ordinary `sparsest run SPEC.toml --progress jsonl` in a
subprocess: the app reads its JSON lines back as harness.sweeps.events.SweepEvent (start,
stage, progress, log, done; a failure shows in the exit status and stderr), and
cancelling it interrupts the process; what it already wrote stays, and the store's run
keys make a rerun finish only what is missing. The store is read in thread workers, each
read on its own short read-only connection, so a sweep writing in another process only
ever waits for one query.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from harness.sweeps.events import SweepEvent
from store import queries
from store.db import ResultsStore, StoreError

DEFAULT_RUNNER: tuple[str, ...] = (sys.executable, "-m", "harness.cli.main", "run")
"""The command a sweep runs; the spec path and `--db PATH --progress jsonl` follow."""

LIVE_STATUSES = ("starting", "running", "cancelling")
LOG_LINES = 200


@dataclass
class LiveSweep:
    """A sweep this app started. key: local id; sweep_id: the store's, once announced.
    status: starting | running | cancelling | done | failed | cancelled | interrupted
    (killed by a signal it could not handle, e.g. SIGKILL)."""

    key: int
    name: str
    spec_path: Path
    status: str = "starting"
    sweep_id: int | None = None
    done: int = 0
    total: int = 0
    models_per_s: float = 0.0
    eta_s: float | None = None
    stage: str = ""
    message: str = ""
    executor: str = ""
    workers: int = 0
    in_flight: int = 0
    nodes: int = 0
    log: list[str] = field(default_factory=list)
    logged: int = 0
    process: asyncio.subprocess.Process | None = field(default=None, repr=False)

    @property
    def live(self) -> bool:
        return self.status in LIVE_STATUSES

    @property
    def where(self) -> str:
        """Where it trains, e.g. `ray: 3/4 tasks on 2 nodes` ('' until it says)."""
        if self.executor == "ray":
            nodes = f"{self.nodes} node" + ("s" if self.nodes != 1 else "")
            return f"ray: {self.in_flight}/{self.workers} tasks on {nodes}"
        return self.executor

    def note(self, line: str) -> None:
        """Keep a log line (the last LOG_LINES; `logged` counts all of them)."""
        self.log.append(line)
        self.logged += 1
        del self.log[:-LOG_LINES]

    def apply(self, event: SweepEvent) -> None:
        """Fold one event of `sparsest run --progress jsonl` into this state. While the
        sweep is being cancelled only its counts move: its status is the app's to set."""
        kind = "" if self.status == "cancelling" else event.event
        if event.sweep_id:  # 0: the store has not numbered the sweep yet
            self.sweep_id = event.sweep_id
        self.done, self.total = event.done, event.total
        self.models_per_s = event.models_per_s
        if event.eta_s is not None or kind == "progress":
            self.eta_s = event.eta_s
        if event.stage:
            self.stage = event.stage
        if event.executor:
            self.executor, self.workers = event.executor, event.workers
            self.in_flight, self.nodes = event.in_flight, event.nodes
        if kind in ("start", "progress", "stage") and self.status == "starting":
            self.status = "running"
        if kind in ("log", "stage") and event.message:
            self.note(event.message)
        if kind == "done":
            self.status = "done"
            self.eta_s = 0.0


class SweepManager:
    """Starts, follows and cancels sweep subprocesses.

    runner: the command before the spec path (injectable: tests use a fake runner);
    on_update: called on the event loop after every change of a sweep's state.
    """

    def __init__(
        self,
        db_path: Path,
        runner: Sequence[str] = DEFAULT_RUNNER,
        on_update: Callable[[LiveSweep], None] = lambda sweep: None,
        spec_dir: Path | None = None,
    ) -> None:
        self.db_path = db_path
        self.runner = tuple(runner)
        self.on_update = on_update
        self.spec_dir = spec_dir or Path(tempfile.mkdtemp(prefix="sparsest-tui-"))
        self.sweeps: dict[int, LiveSweep] = {}

    def prepare(self, name: str, spec_toml: str) -> LiveSweep:
        """Write the spec to a file and register the sweep (not yet started)."""
        key = max(self.sweeps, default=0) + 1
        path = self.spec_dir / f"{key:03d}-{name}.toml"
        path.write_text(spec_toml)
        sweep = LiveSweep(key, name, path)
        self.sweeps[key] = sweep
        return sweep

    def command(self, sweep: LiveSweep) -> list[str]:
        return [
            *self.runner, str(sweep.spec_path), "--db", str(self.db_path), "--progress", "jsonl"
        ]  # fmt: skip

    def running(self) -> list[LiveSweep]:
        return [s for s in self.sweeps.values() if s.live]

    async def run(self, sweep: LiveSweep) -> LiveSweep:
        """Run the sweep's subprocess to the end (the body of an async Textual worker)."""
        try:
            process = await asyncio.create_subprocess_exec(
                *self.command(sweep),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                limit=1 << 20,
            )
        except OSError as error:
            sweep.status, sweep.message = "failed", f"cannot start the sweep: {error}"
            self.on_update(sweep)
            return sweep
        sweep.process = process
        self.on_update(sweep)
        stderr: list[str] = []
        try:
            await asyncio.gather(self._read_events(sweep), self._read_stderr(process, stderr))
            code = await process.wait()
        except asyncio.CancelledError:
            await asyncio.shield(self._reap(process))
            raise
        if sweep.status == "cancelling":
            sweep.status = "cancelled"
        elif sweep.live:
            reason = next((line for line in reversed(stderr) if line.strip()), "")
            sweep.status = "done" if code == 0 else "failed" if code > 0 else "interrupted"
            if code < 0:
                sweep.message = f"killed by {_signal_name(-code)}: rerun to resume"
                sweep.note(sweep.message)
            elif code != 0:
                sweep.message = reason or f"the sweep exited with status {code}"
                sweep.note(sweep.message)
        self.on_update(sweep)
        return sweep

    async def _read_events(self, sweep: LiveSweep) -> None:
        assert sweep.process is not None and sweep.process.stdout is not None
        async for raw in sweep.process.stdout:
            line = raw.decode(errors="replace").strip()
            if not line:
                continue
            event = SweepEvent.from_json(line)
            if event is None:  # a stray print, not an event: keep it in the log
                sweep.note(line)
                continue
            sweep.apply(event)
            self._supersede(sweep)
            self.on_update(sweep)

    def _supersede(self, sweep: LiveSweep) -> None:
        """A rerun that resumed a sweep this app ran before (same store id) replaces it."""
        if sweep.sweep_id is None:
            return
        for key, other in list(self.sweeps.items()):
            if other is not sweep and other.sweep_id == sweep.sweep_id and not other.live:
                del self.sweeps[key]

    async def _read_stderr(self, process: asyncio.subprocess.Process, lines: list[str]) -> None:
        assert process.stderr is not None
        async for raw in process.stderr:
            lines.append(raw.decode(errors="replace").rstrip())
            del lines[:-50]

    async def cancel(self, sweep: LiveSweep, grace_s: float = 3.0) -> None:
        """Interrupt the process (the CLI then marks the sweep in the store), then
        terminate it, then kill it, each after `grace_s` without an exit."""
        process = sweep.process
        if not sweep.live:
            return
        sweep.status = "cancelling"
        self.on_update(sweep)
        if process is None or process.returncode is not None:
            sweep.status = "cancelled"
            self.on_update(sweep)
            return
        for send in (lambda: process.send_signal(signal.SIGINT), process.terminate, process.kill):
            with contextlib.suppress(ProcessLookupError):
                send()
            try:
                await asyncio.wait_for(process.wait(), grace_s)
                return
            except asyncio.TimeoutError:
                continue

    async def stop_all(self) -> None:
        """At exit: stop every sweep still running (their results so far are kept) and
        reap the processes."""
        for sweep in self.running():
            for _ in range(100):
                if sweep.process is not None:
                    break
                await asyncio.sleep(0.02)
            if sweep.process is not None:
                await self._reap(sweep.process)

    @staticmethod
    async def _reap(process: asyncio.subprocess.Process, grace_s: float = 2.0) -> None:
        """Terminate the process (kill it after `grace_s`) and wait for it."""
        if process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
        try:
            await asyncio.wait_for(process.wait(), grace_s)
        except asyncio.TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()


@dataclass(frozen=True)
class StoreVersion:
    """Enough to tell whether the store changed since the last look."""

    runs: int
    last_finished: str
    sweeps: str


def probe(store: ResultsStore) -> StoreVersion | str:
    """The store's version, or why it cannot be read now (no file yet, busy, broken)."""
    if not store.path.exists():
        return f"no results store at {store.path} yet: build a sweep (F1) to create one"
    try:
        activity = queries.activity(store)
    except StoreError as error:
        return str(error)
    statuses = activity.sweeps
    sweeps = ",".join(f"{i}{status}" for i, status in statuses) if statuses else "None"
    return StoreVersion(activity.runs, str(activity.last_finished), sweeps)


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def one_line(error: BaseException) -> str:
    """An exception as one line for a notification: our own errors by their message,
    anything else by its type too."""
    from harness.errors import UserError

    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    if isinstance(error, (StoreError, UserError)):
        return text
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
