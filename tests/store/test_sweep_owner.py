"""A sweep killed outright reads as `interrupted`; a rerun of its spec resumes it."""

import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from store.db import ResultsStore, owner_key, sweep_statuses
from store.owner import Owner

ROOT = Path(__file__).resolve().parents[2]
SPEC = '{"name": "quick", "epochs": 5}'


def _set_owner(store: ResultsStore, sweep_id: int, owner: Owner) -> None:
    with store.transaction() as conn:
        conn.execute(
            "INSERT OR REPLACE INTO meta VALUES (?, ?)", [owner_key(sweep_id), owner.to_json()]
        )


def _raw_statuses(store: ResultsStore) -> list[str]:
    with store.read() as conn:
        return [s for (s,) in conn.execute("SELECT status FROM sweeps ORDER BY id").fetchall()]


# Linux's pids stay below pid_max <= 2**22 (PID_MAX_LIMIT), other systems' far lower:
# no process has this pid, ever.
NO_SUCH_PID = 2**22
OWNER_CODE = "from store.owner import Owner; print(Owner.current().to_json(), flush=True)"


def _spawn_owner(then: str = "") -> tuple[subprocess.Popen[str], Owner]:
    """A child process, and the owner record it writes of itself (with its start time,
    so that a later process given the same pid does not pass for it)."""
    child = subprocess.Popen(
        [sys.executable, "-c", f"{OWNER_CODE}\n{then}"], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    owner = Owner.from_json(child.stdout.readline())
    assert owner is not None and owner.pid == child.pid
    return child, owner


def _dead_owner() -> Owner:
    """The owner record of a process that has exited and been reaped. Where /proc tells
    start times it stays gone even if its pid is reused meanwhile."""
    child, owner = _spawn_owner()
    child.communicate()
    return owner


def test_the_current_process_is_alive_and_a_reaped_one_is_gone() -> None:
    me = Owner.current()
    assert not me.is_gone()
    assert not Owner.from_json(me.to_json()).is_gone()  # type: ignore[union-attr]
    assert Owner(me.host, NO_SUCH_PID, None).is_gone()
    assert _dead_owner().is_gone()
    assert not Owner("some-other-host", NO_SUCH_PID, None).is_gone()  # cannot tell there
    assert Owner.from_json("not json") is None
    assert Owner.from_json('{"host": "h"}') is None


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_a_reused_pid_or_a_zombie_is_gone() -> None:
    me = Owner.current()
    assert me.started is not None
    assert replace(me, started=me.started + "0").is_gone()  # another process, same pid
    if me.pidns is not None:  # another container with this hostname: cannot tell
        assert not replace(me, pid=NO_SUCH_PID, pidns=me.pidns + "0").is_gone()
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        deadline = time.monotonic() + 30
        while Path(f"/proc/{child.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert Owner(me.host, child.pid, None).is_gone()  # exited, not yet reaped
    finally:
        child.wait()


def test_a_sweep_whose_process_died_reads_as_interrupted(tmp_path: Path) -> None:
    store = ResultsStore(tmp_path / "s.duckdb")
    code = "import sys, store.db; store.db.ResultsStore(sys.argv[1]).create_sweep(*sys.argv[2:])"
    subprocess.run(  # it exits with the sweep still `running`, as if killed
        [sys.executable, "-c", code, str(store.path), "quick", SPEC], cwd=ROOT, check=True
    )
    assert [(s.name, s.status) for s in store.list_sweeps()] == [("quick", "interrupted")]
    with store.read() as conn:
        assert sweep_statuses(conn) == [(1, "interrupted")]
    assert _raw_statuses(store) == ["running"]  # only a writer records it


def test_a_live_or_remote_or_unknown_owner_stays_running(tmp_path: Path) -> None:
    store = ResultsStore(tmp_path / "s.duckdb")
    mine = store.create_sweep("mine", SPEC)
    remote = store.create_sweep("remote", SPEC)
    _set_owner(store, remote, Owner("some-other-host", NO_SUCH_PID, None))
    unknown = store.create_sweep("unknown", SPEC)
    with store.transaction() as conn:
        conn.execute("DELETE FROM meta WHERE key = ?", [owner_key(unknown)])  # an older store
    child, owner = _spawn_owner("import time; time.sleep(60)")
    try:
        live = store.create_sweep("live", SPEC)
        _set_owner(store, live, owner)
        assert [s.status for s in store.list_sweeps()] == ["running"] * 4
    finally:
        child.kill()
        child.communicate()
    assert [s.status for s in store.list_sweeps()] == ["running"] * 3 + ["interrupted"]
    assert mine == 1


def test_a_rerun_resumes_an_unfinished_sweep_and_ends_done(tmp_path: Path) -> None:
    store = ResultsStore(tmp_path / "s.duckdb")
    killed = store.create_sweep("quick", SPEC)
    other = store.create_sweep("other", "{}")
    for sweep_id in (killed, other):
        _set_owner(store, sweep_id, _dead_owner())

    assert store.start_sweep("quick", '{"epochs": 5, "name": "quick"}') == (killed, "interrupted")
    assert _raw_statuses(store) == ["running", "interrupted"]  # the other one recorded too
    assert [s.status for s in store.list_sweeps()] == ["running", "interrupted"]
    store.set_sweep_status(killed, "done")
    assert [s.status for s in store.list_sweeps()] == ["done", "interrupted"]

    again, resumed = store.start_sweep("quick", SPEC)  # the newest one finished: a new sweep
    assert (again, resumed) == (3, None)
    store.set_sweep_status(again, "cancelled")
    assert store.start_sweep("quick", '{"epochs": 6}') == (4, None)  # another spec
    store.set_sweep_status(4, "failed")
    assert store.start_sweep("quick", '{"epochs": 6}') == (4, "failed")
    assert [s.status for s in store.list_sweeps()] == [
        "done",
        "interrupted",
        "cancelled",
        "running",
    ]
