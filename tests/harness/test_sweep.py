"""Sweeps end to end: specs, presets, and a sweep killed mid-way then resumed."""

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from harness.cli.main import app
from harness.errors import UserError
from harness.sweeps.driver import SweepDriver
from harness.sweeps.executors import LocalExecutor
from harness.sweeps.plan import flatten, plan_sweep
from harness.sweeps.spec_file import load_spec, parse_spec, preset_names
from store.db import ResultsStore

TINY = """
name = "tiny"
dataset = "xor"
epochs = 2
lrs = [0.1, 0.2]
schedules = ["cosine", "constant"]
targets = [0.6]
population = 8
engine = "torch"

[search]
max_width = 2
lrs = [0.1]
structure = [2, 2, 1]

[prune]
algorithms = ["snip", "random"]
widths = [3]
nnz = [8, 12]
"""


def test_every_preset_parses_and_quick_is_there() -> None:
    names = preset_names()
    assert {
        "quick",
        "paper",
        "paper-95",
        "paper-995",
        "paper-overparam",
        "paper-fixed-init",
    } <= set(names)
    for name in names:
        spec = load_spec(name)
        assert flatten(spec), name


def test_the_paper_preset_includes_the_four_studies() -> None:
    parts = flatten(load_spec("paper"))
    assert [p.name for p in parts] == [
        "paper-95",
        "paper-995",
        "paper-overparam",
        "paper-fixed-init-95",
        "paper-fixed-init-995",
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("epochs = [", "malformed TOML"),
        ("name = 'x'\nepoch = 3", "epoch (line 2): unknown key"),
        ("[prune]\nalgorithms = ['nope']", "unknown algorithm 'nope'"),
        ("targets = [1.5]", "outside (0, 1]"),
        ("[search]\nstructure = [3, 0, 3]", "every width must be at least 1"),
        ("dataset = 'mnist'", "unknown dataset 'mnist'"),
        ("name = 'x'\nepochs = 'ten'", "epochs (line 2): expected an integer, got 'ten'"),
        ("lrs = [0.1, 'a']", "lrs (line 1): expected a list of numbers, got [0.1, 'a']"),
        ("[search]\nstructure = [3, 3.5]", "search.structure (line 2): expected a list of"),
        ("[search]\nphase1 = 1", "search.phase1 (line 2): expected true or false, got 1"),
        ("seeds = true", "seeds (line 1): expected an integer, got True"),
    ],
)
def test_bad_specs_fail_with_one_line(text: str, message: str) -> None:
    with pytest.raises(UserError, match=re.escape(message)) as error:
        parse_spec(text)
    assert "\n" not in str(error.value)


def test_unknown_preset_is_a_one_line_error() -> None:
    result = CliRunner().invoke(app, ["run", "no-such-preset"])
    assert result.exit_code != 0
    assert isinstance(result.exception, UserError)
    assert "unknown preset 'no-such-preset'" in str(result.exception)


def _keys(db: Path) -> list[str]:
    with duckdb.connect(str(db), read_only=True) as conn:
        return [k for (k,) in conn.execute("SELECT run_key FROM runs ORDER BY run_key").fetchall()]


def test_sweep_is_idempotent(tmp_path: Path) -> None:
    spec = parse_spec(TINY)
    store = ResultsStore(tmp_path / "a.duckdb")
    first = SweepDriver(spec, store).run()
    keys = _keys(store.path)
    assert first.runs_done == len(keys) > 0
    with duckdb.connect(str(store.path), read_only=True) as conn:
        tagged = conn.execute("SELECT kind, count(*) FROM runs WHERE sweep_id = 1 GROUP BY kind")
        assert dict(tagged.fetchall()).keys() == {"search-phase1", "search-phase2", "prune"}
        untagged = conn.execute("SELECT count(*) FROM runs WHERE sweep_id IS DISTINCT FROM 1")
        assert untagged.fetchone() == (0,)
    SweepDriver(spec, store).run()
    assert _keys(store.path) == keys
    statuses = [s.status for s in store.list_sweeps()]
    assert statuses == ["done", "done"]


def test_a_killed_sweep_resumes_to_the_uninterrupted_result(tmp_path: Path) -> None:
    spec_path = tmp_path / "tiny.toml"
    spec_path.write_text(TINY.replace("population = 8", "population = 2"))
    reference = ResultsStore(tmp_path / "reference.duckdb")
    SweepDriver(parse_spec(spec_path.read_text()), reference).run()
    expected = _keys(reference.path)

    db = tmp_path / "killed.duckdb"
    command = [sys.executable, "-m", "harness.cli.main", "run", str(spec_path), "--db", str(db),
               "--progress", "jsonl", "--no-leaderboard"]  # fmt: skip
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"}
    )
    assert process.stdout is not None
    for line in process.stdout:  # kill it once the search is stored and pruning begins
        if '"event": "stage"' in line and "pruning" in line:
            break
    process.send_signal(signal.SIGKILL)
    process.wait()
    partial = _keys(db)
    assert 0 < len(partial) < len(expected)
    assert set(partial) <= set(expected)
    store = ResultsStore(db)
    assert [(s.id, s.status) for s in store.list_sweeps()] == [(1, "interrupted")]

    rerun = subprocess.run(command, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    assert "resuming sweep 1 (interrupted)" in rerun.stdout
    assert _keys(db) == expected
    assert [(s.id, s.status) for s in store.list_sweeps()] == [(1, "done")]


def test_dry_run_counts_each_part_and_the_runs_parts_share() -> None:
    """`run paper --dry-run --json` trains nothing. paper-995 repeats paper-95's phase 1
    (same run keys), so it adds no runs; the fixed-init studies cut phase 1 from two
    networks (the paper's), so both add theirs; the overparameterisation grid is 9 algorithms x
    9 lr-schedule points x the study's targets below each width's total (12 at width 3,
    16 at 4, 22 at 5, all 23 at widths 6..256: 234 width-target pairs) = 18,954."""
    import json

    result = CliRunner().invoke(app, ["run", "paper", "--dry-run", "--json", "--no-project"])
    assert result.exit_code == 0, result.output
    plan = json.loads(result.output)
    parts = {p["name"]: p for p in plan["parts"]}
    assert parts["paper-95"]["runs"] == 16**3 * 2 * 3 and parts["paper-95"]["phase2_follows"]
    assert parts["paper-995"]["new_runs"] == 0
    assert parts["paper-overparam"]["runs"] == 9 * 9 * (12 + 16 + 22 + 23 * 8)
    for study in ("paper-fixed-init-95", "paper-fixed-init-995"):  # one per paper network
        assert parts[study]["new_runs"] == 16**3 * 2 * 3 and parts[study]["prune_follows"]
    assert plan["runs"] == sum(p["new_runs"] for p in plan["parts"]) == 92_682
    quick = CliRunner().invoke(app, ["run", "quick", "--dry-run", "--no-project"])
    assert quick.exit_code == 0 and "7,304" in quick.output


def test_dry_run_counts_what_the_store_holds_and_a_resumed_rate_is_its_own(
    tmp_path: Path,
) -> None:
    """`--dry-run --db` says how many of the spec's runs the store holds (a run skips
    them) and counts only the rest in model-epochs; a rerun over a full store reports no
    rate (it trained nothing), not the stored runs over its few seconds."""
    import json

    spec_path = tmp_path / "tiny.toml"
    spec_path.write_text(TINY)
    db = tmp_path / "tiny.duckdb"

    def dry_run() -> dict:  # type: ignore[type-arg]
        args = ["run", str(spec_path), "--db", str(db), "--dry-run", "--json", "--no-project"]
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
        return json.loads(result.output)

    before = dry_run()
    assert before["stored"] == 0 and before["runs"] > 0 and not db.exists()
    store = ResultsStore(db)
    SweepDriver(parse_spec(TINY), store).run()
    after = dry_run()
    assert after["stored"] == after["runs"] == before["runs"]
    assert [p["model_epochs"] for p in after["parts"]] == [0]

    with store.transaction() as conn:
        (pruned,) = conn.execute("SELECT count(*) FROM runs WHERE kind = 'prune'").fetchone()
        conn.execute("DELETE FROM runs WHERE kind = 'prune'")
    partial = dry_run()
    assert 0 < pruned < partial["runs"]
    assert partial["stored"] == partial["runs"] - pruned
    assert partial["parts"][0]["model_epochs"] > 0

    SweepDriver(parse_spec(TINY), store).run()  # trains the pruning runs back
    events: list = []  # type: ignore[type-arg]
    SweepDriver(parse_spec(TINY), store, events.append).run()
    assert events[-1].event == "done" and events[-1].done == events[-1].total == after["runs"]
    assert all(e.models_per_s == 0.0 and e.eta_s is None for e in events)


def test_the_eta_weighs_the_runs_left_by_their_projected_cost(tmp_path: Path) -> None:
    """With a calibration in hand the ETA weighs the runs left by their projected
    seconds: a sweep whose pruning runs cost 1000 times a search run is not projected at
    the search's pace while the search trains. With per-run costs all equal, and without
    a cost for every class, it is the runs left at the run rate."""
    from harness.sweeps.projection import Cost, cost_class

    spec = parse_spec(TINY)
    classes = {cost_class(u) for plan in plan_sweep(spec) for u in plan.units}

    def etas(costs: dict | None) -> list:  # type: ignore[type-arg]
        events: list = []  # type: ignore[type-arg]
        store = ResultsStore(tmp_path / f"eta{len(list(tmp_path.iterdir()))}.duckdb")
        SweepDriver(spec, store, events.append, costs=costs).run()
        return [e for e in events if e.event == "progress" and e.models_per_s > 0]

    def per_run(seconds: float) -> Cost:
        return Cost(fixed=0.0, per_model=seconds, per_model_epoch=0.0)

    uniform = {cls: per_run(1.0) for cls in classes}
    partial = {cls: cost for cls, cost in uniform.items() if cls[0] != "snip"}
    for costs in (None, uniform, partial):  # eta * rate: runs left (done is rounded down)
        events = etas(costs)
        assert events and all(abs(e.eta_s * e.models_per_s - (e.total - e.done)) <= 1
                              for e in events)  # fmt: skip

    costly_pruning = {cls: per_run(1.0 if cls[0] else 0.001) for cls in classes}
    search = [e for e in etas(costly_pruning) if "search" in e.stage and e.done < e.total]
    assert search and all(e.eta_s * e.models_per_s > 10 * (e.total - e.done) for e in search)


def test_a_run_after_a_dry_run_weighs_its_eta_with_the_cached_calibration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`sparsest run` never calibrates, but uses the calibration a dry run cached on this
    machine for the ETA; its events carry one."""
    import json

    from harness.sweeps.projection import costs_if_cached

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    spec_path = tmp_path / "tiny.toml"
    spec_path.write_text(TINY)
    spec = parse_spec(TINY)
    assert costs_if_cached(plan_sweep(spec), spec.device, spec.engine) is None
    dry = CliRunner().invoke(app, ["run", str(spec_path), "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert costs_if_cached(plan_sweep(spec), spec.device, spec.engine) is not None
    db = str(tmp_path / "t.duckdb")
    result = CliRunner().invoke(app, ["run", str(spec_path), "--db", db, "--progress", "jsonl"])
    assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in result.output.splitlines()]
    assert events[-1]["event"] == "done"
    assert any(e.get("eta_s") is not None for e in events if e["event"] == "progress")


def test_cuda_without_a_gpu_is_a_one_line_error(tmp_path: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA device")
    db = tmp_path / "c.duckdb"
    result = CliRunner().invoke(app, ["run", "quick", "--device", "cuda", "--db", str(db)])
    assert isinstance(result.exception, UserError)
    assert "torch sees no CUDA device" in str(result.exception)
    assert not db.exists() or ResultsStore(db).list_sweeps() == []


def test_a_spec_can_ask_for_joint_symmetry_in_phase_2() -> None:
    """search.symmetry = "joint": one mask per network class, 12,400 on (3,3,3) against
    the paper's 25,992; anything else is a one-line error."""
    text = "epochs = 1\nlrs = [0.1]\nschedules = ['cosine']\n[search]\nphase1 = false\n"
    text += "lrs = [0.1]\nstructure = [3, 3, 3]\n"
    assert plan_sweep(parse_spec(text))[0].runs == 25_992
    assert plan_sweep(parse_spec(text + "symmetry = 'joint'\n"))[0].runs == 12_400
    with pytest.raises(UserError, match=re.escape("search.symmetry")):
        parse_spec(text + "symmetry = 'rows'\n")


def test_a_prune_only_spec_trains_populations_of_its_own_size(tmp_path: Path) -> None:
    """The population size travels in every unit: a spec with only a [prune] part and
    `population = 7` never trains more than 7 models at once, included or not."""
    text = (
        "name = 'p7'\ndataset = 'xor'\nepochs = 1\nlrs = [0.1, 0.2]\nschedules = ['cosine']\n"
        "seeds = 3\npopulation = 7\n[prune]\nalgorithms = ['random']\nwidths = [3]\n"
        "nnz = [10, 20]\n"
    )
    spec = parse_spec(text)
    units = [u for plan in plan_sweep(spec) for stage in plan.stages for u in stage.units]
    assert sum(len(u.runs) for u in units) == 12
    assert max(len(u.runs) for u in units) == 7
    sizes: list[int] = []

    class Recording(LocalExecutor):
        def run(self, units, progress=None):  # type: ignore[no-untyped-def]
            for unit in units:
                sizes.append(len(unit.runs))
            yield from super().run(units, progress)

    store = ResultsStore(tmp_path / "p7.duckdb")
    store.initialize()
    SweepDriver(spec, store, executor=Recording("cpu", "torch")).run()
    assert sizes and max(sizes) <= 7 and sum(sizes) == 12
    with store.read() as conn:
        assert conn.execute("SELECT count(*) FROM runs").fetchone() == (12,)

    spec_path = tmp_path / "p7.toml"
    spec_path.write_text(text)
    outer = parse_spec(f"name = 'outer'\npopulation = 512\ninclude = ['{spec_path}']\n")
    inner = [u for plan in plan_sweep(outer) for stage in plan.stages for u in stage.units]
    assert max(len(u.runs) for u in inner) == 7  # the included part keeps its own size
