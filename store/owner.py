"""Which process runs a sweep, and whether it still lives.

A sweep killed outright (SIGKILL, a dead machine) cannot mark itself in the store, so
the store records its owner when it starts and readers ask whether that process is
gone. Only the owner's own host can tell; elsewhere a sweep is taken to be running.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import asdict, dataclass
from pathlib import Path

_PROC = Path("/proc")


def _boot_id() -> str:
    try:
        return (_PROC / "sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def _pid_namespace() -> str | None:
    """Which pid namespace this process sees (containers sharing a hostname differ)."""
    try:
        return os.readlink(_PROC / "self/ns/pid")
    except OSError:
        return None


def _proc_stat(pid: int) -> tuple[str, str] | None:
    """(state, start time in clock ticks since boot) from /proc, or None where unreadable."""
    try:
        text = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[-1].split()  # after the command name, which may hold spaces
    return (fields[0], fields[19]) if len(fields) > 19 else None


def _started(pid: int) -> str | None:
    """When the process started, as boot id and ticks since boot (robust to pid reuse)."""
    stat = _proc_stat(pid)
    return f"{_boot_id()}:{stat[1]}" if stat else None


@dataclass(frozen=True)
class Owner:
    """A process: its host, pid, start and pid namespace (None where /proc cannot say)."""

    host: str
    pid: int
    started: str | None = None
    pidns: str | None = None

    @classmethod
    def current(cls) -> Owner:
        pid = os.getpid()
        return cls(socket.gethostname(), pid, _started(pid), _pid_namespace())

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Owner | None:
        """The owner recorded as `text`, or None if it cannot be read."""
        try:
            data = json.loads(text)
            return cls(str(data["host"]), int(data["pid"]), data.get("started"), data.get("pidns"))
        except (ValueError, TypeError, KeyError, AttributeError):
            return None

    def is_gone(self) -> bool:
        """True only when this host can tell that the process no longer runs: no such pid,
        a zombie, or another process under its pid."""
        if os.name != "posix" or self.host != socket.gethostname():
            return False  # cannot tell (and os.kill(pid, 0) would kill on Windows)
        pidns = _pid_namespace()
        if self.pidns is not None and pidns is not None and self.pidns != pidns:
            return False  # another container on this host
        if self.pid <= 0:
            return True
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            pass  # alive, another user's
        except (OSError, OverflowError):
            return False
        stat = _proc_stat(self.pid)
        if stat is None:
            return False
        reused = self.started is not None and f"{_boot_id()}:{stat[1]}" != self.started
        return stat[0] in ("Z", "X") or reused
