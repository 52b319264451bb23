"""What the app is started with (make_app's arguments), in one frozen value."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tui.workers import DEFAULT_RUNNER


@dataclass(frozen=True)
class AppConfig:
    """db_path: the results store (created by the first sweep if missing).
    runner: the command a sweep runs, before `SPEC.toml --db PATH --progress jsonl`.
    throughput: model-epochs per second for the builder's time estimate (None: measured
    from the store's runs, else tui.harness_api.DEFAULT_MODEL_EPOCHS_PER_S).
    poll_interval: seconds between looks at the store for new results.
    spec_dir: where launched specs are written (None: a fresh temporary folder).
    start_mode: the screen shown first. preload: import the harness (torch) in a
    thread after first paint, so the builder is ready when asked for."""

    db_path: Path
    runner: tuple[str, ...] = DEFAULT_RUNNER
    throughput: float | None = None
    poll_interval: float = 1.5
    spec_dir: Path | None = None
    start_mode: str = "leaderboard"
    preload: bool = True
