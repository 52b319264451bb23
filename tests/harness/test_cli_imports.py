"""`sparsest` starts without torch or numba: commands import them only when they run."""

import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from harness.bench.suites import SUITES
from harness.cli.bench import SUITE_NAMES, TRAINING_SUITES
from harness.cli.main import app, flowing

ROOT = Path(__file__).resolve().parents[2]


def test_importing_the_cli_loads_neither_torch_nor_numba() -> None:
    code = "import harness.cli.main, sys; print('torch' in sys.modules, 'numba' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.split() == ["False", "False"]


def test_leaderboard_help_exits_zero() -> None:
    sparsest = Path(sys.executable).with_name("sparsest")
    result = subprocess.run(
        [str(sparsest), "leaderboard", "--help"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "--target" in result.stdout


def test_bench_names_its_suites_without_importing_them() -> None:
    assert tuple(SUITES) == TRAINING_SUITES
    assert (*TRAINING_SUITES, "overparam", "ray", "tui") == SUITE_NAMES


def test_help_text_flows() -> None:
    assert flowing("One line\n    broken here.\n\n    A second\n    paragraph.") == (
        "One line broken here.\n\nA second paragraph."
    )
    result = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "write every result to the store" in result.output
