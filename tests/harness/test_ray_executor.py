"""Issue 11: sweeps on Ray. A real local Ray instance (bound to 127.0.0.1), real worker
processes, real SIGKILLs; every result compared with the local executor's."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import duckdb
import pytest

from harness.bench.executors import projected_seconds
from harness.cli.main import main
from harness.sweeps.driver import SweepDriver
from harness.sweeps.executors import LocalExecutor
from harness.sweeps.plan import plan_sweep
from harness.sweeps.ray_executor import (
    MIN_PIECE_RUNS,
    RayExecutor,
    RayOptions,
    RayStats,
    StageStats,
    UnitFailed,
    split_units,
)
from harness.sweeps.result_sink import MemorySink
from harness.sweeps.spec_file import parse_spec
from harness.sweeps.stages import pending, train_units
from store.db import ResultsStore

# phase 1 (units of 6..24 models: split into pieces) and pruning (units of 4: packed)
SPEC = """
name = "ray-test"
dataset = "xor"
epochs = 4
lrs = [0.1]
schedules = ["cosine"]
targets = [0.9]
population = 24

[search]
max_width = 3
lrs = [0.1, 0.2]
structure = [2, 2, 2]
phase2_nnz = [4, 0, 0]

[prune]
algorithms = ["snip", "imp", "random"]
widths = [4]
nnz = [10, 14]
"""
# long enough that a worker is surely mid-task when it is killed
SLOW_SPEC = """
name = "ray-slow"
dataset = "xor"
epochs = 40
lrs = [0.1]
schedules = ["cosine"]
targets = [0.9]
population = 4

[prune]
algorithms = ["snip", "imp", "lth", "random"]
widths = [8]
nnz = [12, 16, 20, 24, 28]
"""
RESULT_QUERY = (
    "SELECT r.run_key, r.accuracy, r.final_loss, r.weight_nnz, r.effective_nnz, "
    "r.dead_neurons, m.* EXCLUDE (run_key) FROM runs r LEFT JOIN masks m USING (run_key) "
    "ORDER BY r.run_key"
)


def results(db: Path) -> list[tuple[object, ...]]:
    with duckdb.connect(str(db), read_only=True) as conn:
        return conn.execute(RESULT_QUERY).fetchall()


def counts(db: Path) -> tuple[int, int]:
    with duckdb.connect(str(db), read_only=True) as conn:
        row = conn.execute("SELECT count(*), count(DISTINCT run_key) FROM runs").fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def sweep(text: str, db: Path, executor) -> None:  # type: ignore[no-untyped-def]
    spec = parse_spec(text)
    SweepDriver(spec, ResultsStore(db), executor=executor, plans=plan_sweep(spec)).run()


@pytest.fixture(scope="module")
def local_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Both specs swept by the local executor: the reference."""
    root = tmp_path_factory.mktemp("local")
    dbs = {"fast": root / "fast.duckdb", "slow": root / "slow.duckdb"}
    sweep(SPEC, dbs["fast"], LocalExecutor("cpu"))
    sweep(SLOW_SPEC, dbs["slow"], LocalExecutor("cpu"))
    return dbs


@pytest.fixture(scope="module")
def ray_executor():  # type: ignore[no-untyped-def]
    """One private Ray instance of two CPUs for the module's in-process tests."""
    pytest.importorskip("ray")
    with RayExecutor("cpu", "auto", RayOptions(local_cpus=2, task_seconds=0.5)) as executor:
        yield executor


# -- without Ray -------------------------------------------------------------------------
def test_split_units_keeps_every_run_in_order_and_never_splits_a_shared_order() -> None:
    spec = parse_spec(SPEC)
    units = [u for plan in plan_sweep(spec) for stage in plan.stages for u in stage.units]
    pieces = split_units(units, 40)
    assert [r.run_key for p in pieces for r in p.runs] == [r.run_key for u in units for r in u.runs]
    assert len(pieces) > len(units)
    source = {run.run_key: unit for unit in units for run in unit.runs}
    split = [p for p in pieces if len(p.runs) < len(source[p.runs[0].run_key].runs)]
    assert split and all(len(p.runs) >= MIN_PIECE_RUNS for p in split)
    shared = [replace(units[0], shared_order=True)]
    assert split_units(shared, 8) == shared


def test_ray_missing_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    spec = tmp_path / "s.toml"
    spec.write_text(SPEC)
    db = tmp_path / "runs.duckdb"
    with pytest.raises(SystemExit) as exit_:
        main(["run", str(spec), "--db", str(db), "--executor", "ray", "--progress", "none"])
    _, err = capsys.readouterr()
    assert exit_.value.code == 2
    assert err.count("\n") == 1 and "Traceback" not in err
    assert 'pip install -e ".[ray]"' in err


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--executor", "dask"], "--executor: unknown executor 'dask'"),
        (["--ray-cpus-per-task", "0"], "--ray-cpus-per-task: must be positive"),
        (["--ray-gpus-per-task", "-1"], "--ray-gpus-per-task: must be in [0, 64]"),
        (["--executor", "local", "--address", "127.0.0.1:6379"], "--address: an address goes"),
    ],
)
def test_bad_executor_options_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], options: list[str], message: str
) -> None:
    spec = tmp_path / "s.toml"
    spec.write_text(SPEC)
    with pytest.raises(SystemExit) as exit_:
        main(["run", str(spec), "--db", str(tmp_path / "r.duckdb"), *options])
    _, err = capsys.readouterr()
    assert exit_.value.code == 2
    assert err.startswith(f"error: {message}") and err.count("\n") == 1, err
    assert not (tmp_path / "r.duckdb").exists()


@pytest.mark.parametrize(
    ("address", "message"),
    [
        ("127.0.0.1:1", "cannot reach the Ray cluster at 127.0.0.1:1: "),
        ("head", "expected HOST:PORT"),
    ],
)
def test_an_unreachable_cluster_is_one_line_at_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], address: str, message: str
) -> None:
    pytest.importorskip("ray")
    spec = tmp_path / "s.toml"
    spec.write_text(SPEC)
    started = time.perf_counter()
    with pytest.raises(SystemExit) as exit_:
        main(["run", str(spec), "--db", str(tmp_path / "r.duckdb"), "--executor", "ray",
              "--address", address, "--progress", "none"])  # fmt: skip
    _, err = capsys.readouterr()
    assert exit_.value.code == 2
    lines = err.strip().splitlines()  # a status line ("starting the ray executor"), then it
    assert lines[-1].startswith("error: ") and message in lines[-1], err
    assert sum(line.startswith("error: ") for line in lines) == 1 and "Traceback" not in err
    assert time.perf_counter() - started < 60  # Ray alone retries for minutes


def test_executor_in_a_spec_is_validated_with_its_line() -> None:
    from harness.errors import SpecError

    with pytest.raises(SpecError, match=r"executor \(line 2\): unknown executor"):
        parse_spec('name = "x"\nexecutor = "spark"\n[prune]\nalgorithms = ["snip"]\n'
                   'widths = [3]\nnnz = [10]\n')  # fmt: skip
    spec = parse_spec('executor = "ray"\naddress = "head:6379"\nray_gpus_per_task = 0.25\n'
                      + SPEC)  # fmt: skip
    assert (spec.executor, spec.address, spec.ray_gpus_per_task) == ("ray", "head:6379", 0.25)


def test_the_projection_for_n_machines_is_the_stated_model() -> None:
    stats = RayStats(startup_s=5.0, shutdown_s=1.0, driver_s=2.0, stages=[
        StageStats(tasks=10, units=10, worker_s=100.0, longest_task_s=9.0, floor_s=3.0),
        StageStats(tasks=4, units=4, worker_s=8.0, longest_task_s=6.0, floor_s=6.0),
    ])  # fmt: skip
    overhead = 0.01
    assert projected_seconds(stats, overhead, 1) == pytest.approx(8 + 100.1 + 8.04)
    assert projected_seconds(stats, overhead, 4) == pytest.approx(8 + 100.1 / 4 + 6.0)
    # a huge cluster: every stage is down to its floor
    assert projected_seconds(stats, overhead, 1000) == pytest.approx(8 + 3.0 + 6.0)


# -- on a real Ray instance --------------------------------------------------------------
def test_ray_listens_on_loopback_only(ray_executor: RayExecutor) -> None:
    psutil = pytest.importorskip("psutil")
    me = psutil.Process()
    ours = {p.pid for p in me.children(recursive=True)} | {me.pid}
    listening = [c for c in psutil.net_connections("inet")
                 if c.status == psutil.CONN_LISTEN and c.pid in ours]  # fmt: skip
    assert listening, "found none of the Ray instance's servers"
    addresses = {c.laddr.ip for c in listening}
    assert addresses <= {"127.0.0.1", "::ffff:127.0.0.1", "::1"}, addresses


def test_ray_gives_the_local_executors_results_bit_for_bit(
    ray_executor: RayExecutor, local_results: dict[str, Path], tmp_path: Path
) -> None:
    db = tmp_path / "ray.duckdb"
    stages_before = len(ray_executor.stats.stages)
    sweep(SPEC, db, ray_executor)
    stages = ray_executor.stats.stages[stages_before:]
    assert len(stages) >= 3  # phase 1, phase 2, pruning: one `run` each
    assert all(s.tasks >= 1 and s.worker_s > 0 for s in stages)
    assert all(0 < s.floor_s <= s.longest_task_s for s in stages)
    assert sum(s.units for s in stages) > len(plan_sweep(parse_spec(SPEC))[0].stages[0].units)
    reference = results(local_results["fast"])
    assert len(reference) > 40
    assert results(db) == reference
    assert counts(db) == counts(local_results["fast"])


def test_a_worker_killed_mid_task_costs_only_a_retry(
    ray_executor: RayExecutor, local_results: dict[str, Path], tmp_path: Path
) -> None:
    psutil = pytest.importorskip("psutil")
    killed: list[int] = []
    stop = threading.Event()

    def kill_one_busy_worker() -> None:
        while not stop.is_set() and not killed:
            for process in psutil.Process().children(recursive=True):
                try:
                    if process.name().startswith("ray::train_task"):
                        time.sleep(0.3)  # well into the task
                        process.send_signal(signal.SIGKILL)
                        killed.append(process.pid)
                        return
                except psutil.Error:
                    continue
            time.sleep(0.05)

    killer = threading.Thread(target=kill_one_busy_worker)
    killer.start()
    db = tmp_path / "ray.duckdb"
    try:
        sweep(SLOW_SPEC, db, ray_executor)
    finally:
        stop.set()
        killer.join()
    assert killed, "no Ray worker was caught mid-task"
    assert counts(db) == counts(local_results["slow"])
    assert results(db) == results(local_results["slow"])
    [row] = ResultsStore(db).list_sweeps()
    assert row.status == "done"


def test_a_task_that_raises_fails_naming_its_unit_after_storing_the_rest(
    ray_executor: RayExecutor,
) -> None:
    spec = parse_spec(SLOW_SPEC)
    units = list(plan_sweep(spec)[0].stages[0].units)
    broken = replace(units[1], label="the broken unit", dataset="no-such-dataset")
    sink = MemorySink()
    left = pending([units[0], broken, *units[2:4]], sink)
    with pytest.raises(UnitFailed, match="unit the broken unit failed on a Ray worker: "
                                         "UnknownDatasetError") as failure:  # fmt: skip
        train_units(left, ray_executor, sink)
    assert "\n" not in str(failure.value)
    stored = set(sink.runs)
    good = {key for unit in (units[0], *units[2:4]) for key in unit.keys}
    assert stored == good  # every finished population kept, nothing of the broken one


def test_the_driver_killed_then_rerun_finishes_exactly_the_missing_runs(
    local_results: dict[str, Path], tmp_path: Path
) -> None:
    """SIGKILL of `sparsest run --executor ray` once a population is stored; the rerun
    resumes the same sweep (interrupted, then done) and ends with the uninterrupted
    sweep's runs, each once."""
    pytest.importorskip("ray")
    spec = tmp_path / "slow.toml"
    spec.write_text(SLOW_SPEC)
    db = tmp_path / "runs.duckdb"
    command = [sys.executable, "-m", "harness.cli.main", "run", str(spec), "--db", str(db),
               "--executor", "ray", "--progress", "jsonl", "--no-leaderboard"]  # fmt: skip
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=env, start_new_session=True)  # fmt: skip
    assert process.stdout is not None
    total = 0
    try:
        for line in process.stdout:
            event = json.loads(line)
            total = event.get("total", total)
            if event["event"] == "progress" and event["done"] >= 4:
                break
        else:
            pytest.fail("the sweep ended before it was killed")
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)
    finally:  # the Ray instance it started goes with it, as with a machine's crash
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    stored, _ = counts(db)
    assert 0 < stored < total
    [before] = ResultsStore(db).list_sweeps()
    assert before.status == "interrupted"
    rerun = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    events = [json.loads(line) for line in rerun.stdout.splitlines()]
    assert any(re.match(r"resuming sweep \d+ \(interrupted\)", e.get("message", ""))
               for e in events)  # fmt: skip
    [after] = ResultsStore(db).list_sweeps()
    assert (after.id, after.status) == (before.id, "done")
    assert counts(db) == counts(local_results["slow"])
    assert results(db) == results(local_results["slow"])
