"""The algorithms published since the paper's set, and our own pruner, run on a store
with no search runs at all (none reads the search's results), keep exact budgets there,
and each gets its own leaderboard row, `NAME+repair` included."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from algorithms.registry import ALGORITHMS
from harness.cli.main import app

NEW = ("wanda", "lrr", "ntk-sap", "srigl", "chita", "snip+repair", "width-then-weights")


def invoke(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, (result.output, result.exception)
    return result.output


def test_new_algorithms_on_a_store_without_search_runs(tmp_path: Path) -> None:
    db = str(tmp_path / "store.duckdb")
    try:
        out = invoke(
            "prune", "--algorithm", ",".join(NEW), "--width", "4", "--nnz", "12,30",
            "--epochs", "2", "--lrs", "0.1", "--schedules", "constant", "--engine", "torch",
            "--dataset", "xor", "--hp", "ntk-sap.rounds=10", "--hp", "srigl.update_interval=10",
            "--hp", "width-then-weights.events=5",
            "--db", db, "--json",
        )  # fmt: skip
    finally:
        ALGORITHMS.reload()  # forget the composition for later tests
    rows = json.loads(out)
    assert sorted((r["algorithm"], r["target_nnz"]) for r in rows) == sorted(
        (name, nnz) for name in NEW for nnz in (12, 30)
    )
    assert all(r["achieved_nnz"] == r["target_nnz"] for r in rows)
    kinds = json.loads(invoke("sql", "SELECT DISTINCT kind FROM runs", "--db", db, "--json"))
    assert {row["kind"] for row in kinds} == {"prune"}
    board = json.loads(invoke("leaderboard", "--target", "0.5", "--db", db, "--json"))
    assert {row["algorithm"] for row in board} == set(NEW)
