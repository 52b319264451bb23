"""Imports point one way: tui -> harness -> {algorithms, store}; the core never imports textual."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_import_linter_contracts_hold() -> None:
    lint_imports = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint_imports)], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 3 kept, 0 broken" in result.stdout


def test_algorithms_need_only_torch() -> None:
    code = (
        "import sys, algorithms.base, algorithms.topk; "
        "banned = ('harness', 'store', 'tui', 'textual', 'duckdb'); "
        "bad = [m for m in sys.modules if m.split('.')[0] in banned]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
