"""Issue 14: one-line errors and exit 2 for usage errors, Ctrl-C's promised line, printed
presets that can be saved as they are, and a README that points inside the repository."""

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from harness.cli.main import INTERRUPTED, app
from harness.sweeps.spec_file import preset_names, preset_text
from tests.harness.test_hardening_spec import run_cli

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "--seeds", "0"], "Invalid value for '--seeds'"),
        (["train", "--epochs", "abc"], "Invalid value for '--epochs'"),
        (["frobnicate"], "No such command 'frobnicate'"),
        (["run", "quick", "--seeds", "2"], "No such option: --seeds"),
        (["run"], "Missing argument"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code, out, err = run_cli(args, capsys)
    assert code == 2
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert message in err and "╭" not in err and out == ""


def test_help_still_works(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(["--help"], capsys)
    assert code == 0 and "Usage" in out and "run" in out
    code, out, _ = run_cli(["train", "--help"], capsys)
    assert code == 0 and "--lrs" in out


@pytest.mark.parametrize("lr", ["inf", "1e400", "nan", "0", "-0.1"])
@pytest.mark.parametrize(
    "command",
    [
        ["train", "--widths", "1,1,1", "--epochs", "1", "--dataset", "xor"],
        ["search", "--dry-run", "--phase", "1", "--max-width", "2"],
        [
            "prune",
            "--algorithm",
            "snip",
            "--width",
            "3",
            "--nnz",
            "10",
            "--epochs",
            "1",
            "--dataset",
            "xor",
        ],
    ],
)
def test_cli_learning_rates_are_finite_and_positive(
    capsys: pytest.CaptureFixture[str], command: list[str], lr: str
) -> None:
    code, _, err = run_cli([*command, "--lrs", f"0.1,{lr}"], capsys)
    assert code == 2, err
    assert err.startswith("error: --lrs: learning rates must be finite and positive")


SLOW_SPEC = """
name = "slow"
dataset = "xor"
epochs = 1
lrs = [0.1]
schedules = ["constant"]
targets = [0.6]
population = 2
engine = "torch"

[search]
phase2 = false
max_width = 8
lrs = [0.1]
"""


def _sweeps(db: Path) -> list[tuple[str, int]]:
    with duckdb.connect(str(db), read_only=True) as conn:
        statuses = conn.execute("SELECT status FROM sweeps").fetchall()
        runs = conn.execute("SELECT count(*) FROM runs").fetchone()
    assert runs is not None
    return [(status, runs[0]) for (status,) in statuses]


def test_ctrl_c_keeps_results_and_says_so(tmp_path: Path) -> None:
    """SIGINT once populations are stored: exit 130, the sweep `cancelled`, its runs
    kept, and the promised line printed."""
    spec = tmp_path / "slow.toml"
    spec.write_text(SLOW_SPEC)  # 512 structures, 256 populations of 2
    db = tmp_path / "runs.duckdb"
    command = [sys.executable, "-m", "harness.cli.main", "run", str(spec), "--db", str(db),
               "--progress", "jsonl", "--no-leaderboard"]  # fmt: skip
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        # a test worker may run with SIGINT ignored, which its children would inherit
        # (and Python then never raises KeyboardInterrupt): give the sweep a plain Ctrl-C
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    assert process.stdout is not None
    for line in process.stdout:  # two populations trained: at least one is written
        if '"event": "progress"' in line and int(re.findall(r'"done": (\d+)', line)[0]) >= 4:
            break
    else:
        pytest.fail("the sweep ended before it was interrupted")
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert INTERRUPTED in err
    assert "Traceback" not in err
    [(status, runs)] = _sweeps(db)
    assert status == "cancelled" and 0 < runs < 512


@pytest.mark.parametrize("name", preset_names())
def test_presets_show_prints_the_file_as_it_is(name: str, tmp_path: Path) -> None:
    """`sparsest presets --show NAME > f.toml` saves the preset's bytes (rich used to
    hard-wrap them at 80 columns when stdout was not a terminal)."""
    result = CliRunner().invoke(app, ["presets", "--show", name])
    assert result.exit_code == 0, result.output
    assert result.stdout == preset_text(name)
    path = ROOT / "harness" / "presets" / f"{name}.toml"
    assert result.stdout_bytes == path.read_bytes()
    tomllib.loads(result.stdout)


def test_presets_show_redirected_from_a_real_process(tmp_path: Path) -> None:
    saved = tmp_path / "f.toml"
    with saved.open("w") as out:
        subprocess.run(
            [sys.executable, "-m", "harness.cli.main", "presets", "--show", "paper-95"],
            stdout=out, check=True,
        )  # fmt: skip
    assert saved.read_bytes() == (ROOT / "harness" / "presets" / "paper-95.toml").read_bytes()


def test_the_docs_point_inside_the_repository() -> None:
    readme = (ROOT / "README.md").read_text()
    docs = [readme, *(p.read_text() for p in (ROOT / "docs").glob("*.md"))]
    assert not any("shared/" in text or "PAPER.md" in text for text in docs)
    assert "docs/PROTOCOL.md" in readme and (ROOT / "docs" / "PROTOCOL.md").exists()
