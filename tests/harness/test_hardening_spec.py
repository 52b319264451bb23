"""Issue 14: a spec that cannot run fails at load time, as `error: spec: KEY (line N):
reason` and exit 2, before anything is written to the store."""

import json
import re
import time
from pathlib import Path

import pytest

from harness.cli.main import main
from harness.errors import SpecError, UserError
from harness.sweeps.driver import SweepDriver
from harness.sweeps.plan import MAX_RUNS, count_part, flatten, plan_part, plan_sweep
from harness.sweeps.spec_file import load_spec, parse_spec
from store.db import ResultsStore

BASE = "name = 't'\ndataset = 'xor'\nepochs = 1\nlrs = [0.1]\nschedules = ['constant']\n"
PRUNE = "[prune]\nalgorithms = ['snip']\nwidths = [3]\nnnz = [10]\n"
SEARCH = "[search]\nphase1 = false\nlrs = [0.1]\nstructure = [1, 1, 1]\n"


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """`sparsest ARGS` through the entry point: exit code, stdout, stderr."""
    with pytest.raises(SystemExit) as exit_:
        main(args)
    out, err = capsys.readouterr()
    return int(exit_.value.code or 0), out, err


def refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: bytes | str, *options: str
) -> str:
    """`sparsest run` on the spec `text`: exit 2, one line, and no store file; the line."""
    spec, db = tmp_path / "s.toml", tmp_path / "runs.duckdb"
    spec.write_bytes(text.encode() if isinstance(text, str) else text)
    code, _, err = run_cli(["run", str(spec), "--db", str(db), "--progress", "none", *options],
                           capsys)  # fmt: skip
    assert code == 2, err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert not db.exists()
    return err


@pytest.mark.parametrize(
    ("text", "key", "reason"),
    [
        (BASE + "prune = 5\n", "prune (line 6)", "expected a table"),
        (BASE + "search = 'x'\n", "search (line 6)", "expected a table"),
        (BASE + PRUNE + "[prune.hparams]\nimp = 5\n", "prune.hparams.imp (line 11)", "table"),
        (BASE + "[search]\nlrs = [-0.1]\nstructure = [1, 1, 1]\n", "search.lrs (line 7)", ""),
        (BASE + "holdout = 1.5\n" + PRUNE, "holdout (line 6)", "outside [0, 1)"),
        (BASE + "holdout = -0.5\n" + PRUNE, "holdout (line 6)", "outside [0, 1)"),
        (BASE + "engine = 'gpu9000'\n" + PRUNE, "engine (line 6)", "choose auto"),
        (BASE + SEARCH + "phase2_nnz = [-4, 0, 0]\n", "search.phase2_nnz (line 10)", ""),
        (BASE + SEARCH + "max_masks = 0\n", "search.max_masks (line 10)", "at least 1"),
        (
            BASE
            + "[search]\nphase1 = false\ninit = 'fixed'\nmax_width = 4\nstructure = [5, 1, 1]\n",
            "search.structure (line 10)",
            "at most that",
        ),
    ],
)
def test_a_spec_that_cannot_run_names_its_key_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, key: str, reason: str
) -> None:
    err = refused(tmp_path, capsys, text)
    assert err.startswith(f"error: spec: {key}: "), err
    assert reason in err


@pytest.mark.parametrize(
    ("text", "key"),
    [
        (BASE.replace("lrs = [0.1]", "lrs = [inf]") + PRUNE, "lrs"),
        (BASE.replace("lrs = [0.1]", "lrs = [1e400]") + PRUNE, "lrs"),
        (BASE.replace("lrs = [0.1]", "lrs = [nan]") + PRUNE, "lrs"),
        (BASE.replace("lrs = [0.1]", "lrs = [0]") + PRUNE, "lrs"),
        (BASE.replace("lrs = [0.1]", "lrs = [-0.1]") + PRUNE, "lrs"),
        (BASE + SEARCH.replace("lrs = [0.1]", "lrs = [inf]"), "search.lrs"),
        (BASE + SEARCH + "phase2_lrs = [nan]\n", "search.phase2_lrs"),
        (BASE + SEARCH + "phase2_lrs = [0.0]\n", "search.phase2_lrs"),
    ],
)
def test_learning_rates_are_finite_and_positive(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, key: str
) -> None:
    err = refused(tmp_path, capsys, text)
    assert err.startswith(f"error: spec: {key} (line ")
    assert "finite and positive" in err


@pytest.mark.parametrize(
    ("text", "key", "reason"),
    [
        (BASE.replace("schedules = ['constant']", "schedules = []") + PRUNE, "schedules", ""),
        (BASE + PRUNE.replace("nnz = [10]", "nnz = [27, 40]"), "prune.nnz", "no width takes"),
        (BASE + PRUNE.replace("['snip']", "[]"), "prune.algorithms", "at least one"),
        (BASE + PRUNE.replace("[3]", "[]"), "prune.widths", "at least one"),
        (BASE + "[search]\nphase1 = false\n", "search.phase1", "phase 2 needs a structure"),
        (BASE + "[search]\nphase1 = false\nphase2 = false\n", "search.phase2", "nothing"),
        (BASE + "[prune]\nalgorithms = ['snip']\nfrom_search = true\n", "prune.from_search", ""),
        (BASE, "", "trains nothing"),
        ("", "", "trains nothing"),
    ],
)
def test_a_spec_that_trains_nothing_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, key: str, reason: str
) -> None:
    err = refused(tmp_path, capsys, text)
    assert err.startswith(f"error: spec: {key} (line " if key else "error: spec: "), err
    assert reason in err


def test_running_dev_null_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "runs.duckdb"
    code, _, err = run_cli(["run", "/dev/null", "--db", str(db)], capsys)
    assert code == 2 and "trains nothing" in err and not db.exists()


def test_a_spec_that_is_not_utf8_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    err = refused(tmp_path, capsys, BASE.encode() + b"name = '\xff\xfe'\n" + PRUNE.encode())
    assert "line 6 is not UTF-8 text (byte 0xff)" in err


@pytest.mark.parametrize(
    ("text", "key", "reason"),
    [
        (BASE + PRUNE.replace("[3]", "[100000]"), "prune.widths", "limit of 4,096"),
        (BASE + "[search]\nmax_width = 100000\n", "search.max_width", "limit of 64"),
        (BASE + SEARCH.replace("[1, 1, 1]", "[100, 1, 1]"), "search.structure", "limit of 16"),
        (BASE + "seeds = 1000000000\n[search]\nmax_width = 2\n", "seeds", "limit of 1,000"),
        (BASE.replace("epochs = 1", "epochs = 1000000000") + PRUNE, "epochs", "limit of 10,000"),
        (BASE + "population = 1000000000\n" + PRUNE, "population", "limit of 65,536"),
        (BASE + "population = 65536\n" + PRUNE.replace("[3]", "[512]"), "population", "weights"),
        (BASE + SEARCH + "max_masks = 1000000000\n", "search.max_masks", "limit of 100,000,000"),
    ],
)
def test_every_size_that_multiplies_memory_or_time_is_bounded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, key: str, reason: str
) -> None:
    """Refused at load, so `--dry-run` answers at once instead of listing runs for minutes
    (max_width = 100000) or growing to 24 GB (seeds = 1e9)."""
    started = time.perf_counter()
    err = refused(tmp_path, capsys, text, "--dry-run")
    assert time.perf_counter() - started < 5
    assert err.startswith(f"error: spec: {key} (line "), err
    assert reason in err


def test_a_sweep_over_the_run_limit_is_refused_before_listing_a_run() -> None:
    text = BASE + "seeds = 1000\n[search]\nmax_width = 16\n"
    started = time.perf_counter()
    with pytest.raises(SpecError, match=f"over the limit of {MAX_RUNS:,}"):
        plan_sweep(parse_spec(text))
    assert time.perf_counter() - started < 5


def test_a_large_dry_run_counts_without_listing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    spec = tmp_path / "big.toml"
    spec.write_text(BASE + "seeds = 200\n[search]\nmax_width = 12\nlrs = [0.1]\n")
    started = time.perf_counter()
    code, out, _ = run_cli(["run", str(spec), "--dry-run", "--json"], capsys)
    assert code == 0 and time.perf_counter() - started < 5
    plan = json.loads(out)
    assert plan["runs"] == 12**3 * 200 and plan["counted"]
    assert plan["parts"][0]["by_algorithm"] == {"dense": 12**3 * 200}


@pytest.mark.parametrize("name", ["quick", "paper-overparam", "paper-fixed-init"])
def test_counting_a_part_agrees_with_listing_it(name: str) -> None:
    for part in flatten(load_spec(name)):
        listed: dict[str, int] = {}
        for stage in plan_part(part).stages:
            for unit in stage.units:
                algorithm = unit.runs[0].spec.algorithm
                listed[algorithm] = listed.get(algorithm, 0) + len(unit.runs)
        assert count_part(part) == listed, part.name


def test_include_cycles_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "b.toml").write_text("include = ['a.toml']\n")
    (tmp_path / "a.toml").write_text("name = 'a'\ninclude = ['b.toml']\n")
    with pytest.raises(SpecError, match=re.escape("include cycle: a.toml -> b.toml -> a.toml")):
        load_spec(str(tmp_path / "a.toml"))
    db = tmp_path / "runs.duckdb"
    code, _, err = run_cli(["run", str(tmp_path / "a.toml"), "--db", str(db)], capsys)
    assert code == 2 and err.startswith("error: spec: include (line 2): ") and not db.exists()


def test_includes_resolve_against_the_including_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "specs"
    (folder / "parts").mkdir(parents=True)
    (folder / "parts" / "inner.toml").write_text(BASE.replace("'t'", "'inner'") + PRUNE)
    (folder / "middle.toml").write_text("name = 'middle'\ninclude = ['parts/inner.toml']\n")
    (folder / "outer.toml").write_text("name = 'outer'\ninclude = ['middle.toml', 'quick']\n")
    monkeypatch.chdir(tmp_path)  # not the specs' folder
    parts = flatten(load_spec("specs/outer.toml"))
    assert [p.name for p in parts] == ["inner", "quick"]


def test_a_bad_include_names_the_include(tmp_path: Path) -> None:
    (tmp_path / "bad.toml").write_text(BASE + "holdout = 2.0\n" + PRUNE)
    (tmp_path / "top.toml").write_text("name = 'top'\ninclude = ['bad.toml']\n")
    with pytest.raises(SpecError) as caught:
        load_spec(str(tmp_path / "top.toml"))
    assert str(caught.value).startswith("spec: include (line 2): bad.toml: holdout (line 6):")
    with pytest.raises(
        SpecError, match=re.escape("include (line 1): nope.toml: cannot read nope.toml")
    ):
        parse_spec("include = ['nope.toml']\n", base=tmp_path)


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ("[prune.hparams.snip]\nfoo = 1\n", "unknown hyper-parameter 'foo'"),
        ("[prune.hparams.imp]\nrounds = 2\n", "'imp' is not among the selected algorithms"),
    ],
)
def test_bad_hyper_parameters_leave_no_sweep(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], table: str, message: str
) -> None:
    err = refused(tmp_path, capsys, BASE + PRUNE + table)
    assert err.startswith("error: spec: prune.hparams") and message in err


def test_a_sweep_that_fails_as_it_starts_is_not_left_running(tmp_path: Path) -> None:
    """Whatever stops a sweep once its row exists sets its status (the run count and
    the first event used to come after start_sweep, outside its try)."""
    store = ResultsStore(tmp_path / "runs.duckdb")

    def explode(event: object) -> None:
        raise UserError("the progress display broke")

    with pytest.raises(UserError):
        SweepDriver(parse_spec(BASE + PRUNE), store, explode).run()
    assert [s.status for s in store.list_sweeps()] == ["failed"]
