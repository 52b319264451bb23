"""What a running sweep reports, as one dataclass: the driver emits it, `sparsest run
--progress jsonl` prints it as JSON lines, and the TUI reads those lines back into it."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from typing import Any

EVENT_KINDS = ("start", "stage", "progress", "log", "done")


@dataclass(frozen=True)
class SweepEvent:
    """`start` (total known so far), `stage` (a part's phase begins), `progress`, `log`,
    `done`. Counts are runs (trained models); `total` can grow when phase 2's structure
    becomes known after phase 1. `executor` names where the sweep trains (local, ray);
    `workers` is how many units (local) or tasks (ray) it can train at once on its
    `nodes` machines, `in_flight` how many it is training now. `models_per_s` counts the
    runs this process trained (a resumed sweep's stored runs are in `done`, not in the
    rate), and `eta_s` is the runs left at that rate."""

    event: str
    sweep_id: int
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

    def as_json(self) -> str:
        return json.dumps({k: v for k, v in asdict(self).items() if v not in ("", None)})

    @classmethod
    def from_json(cls, line: str) -> SweepEvent | None:
        """The event a JSON line holds, or None when the line is not one (a stray print,
        an unknown event kind, wrongly typed fields)."""
        try:
            raw: Any = json.loads(line)
        except ValueError:
            return None
        if not isinstance(raw, dict) or raw.get("event") not in EVENT_KINDS:
            return None
        values: dict[str, Any] = {}
        for item in fields(cls):
            if item.name not in raw:
                continue
            value = raw[item.name]
            if item.name in ("done", "total", "sweep_id", "workers", "in_flight", "nodes"):
                ok = isinstance(value, int) and not isinstance(value, bool)
            elif item.name in ("models_per_s", "eta_s"):
                ok = isinstance(value, (int, float)) and not isinstance(value, bool)
                value = float(value) if ok else value
            else:
                ok = isinstance(value, str)
            if not ok:
                return None
            values[item.name] = value
        values.setdefault("sweep_id", 0)
        return cls(**values)


EventFn = Callable[[SweepEvent], None]
