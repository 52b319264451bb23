"""The CLI's result tables fit an 80-column terminal without cutting a value."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.cells import cell_len
from rich.console import Console
from typer.testing import CliRunner

from harness.bench.bench import BenchRow
from harness.bench.suites import PruneRow
from harness.cli.bench import _table
from harness.cli.main import app
from store.db import ResultsStore
from tests.store.helpers import make_record


def check_fits(text: str) -> None:
    assert "…" not in text
    assert max(map(cell_len, text.splitlines())) <= 80


def invoke(*args: str) -> str:
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "80"})
    assert result.exit_code == 0, (result.output, result.exception)
    check_fits(result.output)
    return result.output


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "results.duckdb"
    search = dict(kind="search-phase2", algorithm="mask", target_weight_nnz=None)
    ResultsStore(path).write_runs(
        [
            make_record("m1" * 10, weight_nnz=25, accuracy=0.96, **search),
            make_record("m2" * 10, weight_nnz=30, accuracy=0.997, **search),
            make_record("s1", algorithm="synflow", weight_nnz=40, accuracy=0.97),
            make_record("a1", algorithm="magnitude-after", weight_nnz=20, accuracy=0.96),
            make_record("x1", algorithm="snip", weight_nnz=30, dataset="xor", accuracy=0.99),
        ]
    )
    return path


def test_leaderboard_marks_a_gap_below_one_and_fits(db: Path) -> None:
    out = invoke("leaderboard", "--db", str(db))
    assert "magnitude-after" in out and "synflow" in out and "snip" in out
    assert "0.80x*" in out and "1.60x " in out and "gap < 1:" in out
    assert "(cubist-spiral)" in out and "(xor)" in out  # one table per dataset
    out = invoke("leaderboard", "--db", str(db), "--dataset", "xor")
    assert "gap < 1" not in out


def test_frontier_fits(db: Path) -> None:
    out = invoke("frontier", "--db", str(db))
    assert "m1" * 10 in out and "Pareto curve" in out


def test_algorithms_fit() -> None:
    out = invoke("algorithms")
    assert "magnitude-after" in out and "new_batch_per_step=True" in out


def test_bench_table_fits_and_titles_shared_columns() -> None:
    base = dict(
        suite="prune", width=(16, 16, 16), population=256, model_epochs_per_s=1_834_221.4,
        baseline_model_epochs_per_s=1234.5, speedup=1486.0, device="cpu", engine="numba",
        compile_s=12.3, baseline_steps=100, target_weight_nnz=20, epochs_trained=1,
        seconds=1.5, baseline_seconds=100.0,
    )  # fmt: skip
    rows: list[BenchRow] = [
        PruneRow(**base, algorithm="magnitude-after"),
        PruneRow(**{**base, "engine": "torch"}, algorithm="imp"),
    ]
    buffer = io.StringIO()
    Console(width=80, file=buffer).print(_table("prune", rows, "how it is measured"))
    text = buffer.getvalue()
    check_fits(text)
    assert "width 16,16,16; population 256; device cpu" in text  # the same in every row
    assert "1,834,221" in text and "magnitude-after" in text and "torch" in text
