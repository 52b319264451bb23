"""`sparsest sql/export/leaderboard/frontier` (harness/cli/store.py) on a tmp store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from harness.cli import store as store_cmds
from harness.errors import UserError
from store.db import ResultsStore
from tests.store.helpers import make_record

runner = CliRunner()


@pytest.fixture
def app() -> typer.Typer:
    app = typer.Typer()
    store_cmds.register(app)
    return app


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "results.duckdb"
    search = dict(kind="search-phase2", algorithm="mask", target_weight_nnz=None)
    ResultsStore(path).write_runs(
        [
            make_record("m1", weight_nnz=25, accuracy=0.96, **search),
            make_record("m2", weight_nnz=30, accuracy=0.997, **search),
            make_record("s1", algorithm="snip", weight_nnz=40, accuracy=0.97),
            make_record("s2", algorithm="snip", weight_nnz=45, accuracy=0.999, widths=(16, 16, 16)),
            make_record("i1", algorithm="imp", weight_nnz=20, accuracy=0.9, init_mode="fixed"),
        ]
    )
    return path


def invoke(app: typer.Typer, *args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, (result.output, result.exception)
    return result.output


def fails(app: typer.Typer, *args: str) -> str:
    result = runner.invoke(app, list(args))
    assert isinstance(result.exception, UserError), (result.output, result.exception)
    message = str(result.exception)
    assert "\n" not in message
    return message


def test_every_command_has_help(app: typer.Typer) -> None:
    for command in ("sql", "export", "leaderboard", "frontier"):
        assert "--db" in invoke(app, command, "--help")


def test_leaderboard_json(app: typer.Typer, db: Path) -> None:
    rows = json.loads(invoke(app, "leaderboard", "--json", "--db", str(db)))
    keys = {"algorithm", "target", "weight_nnz", "frontier_weight_nnz", "gap_ratio"}
    assert all(keys | {"best_accuracy", "runs"} <= row.keys() for row in rows)
    table = {(r["algorithm"], r["target"]): r for r in rows}
    assert table["snip", 0.95]["weight_nnz"] == 40 and table["snip", 0.95]["gap_ratio"] == 1.6
    assert table["imp", 0.95]["weight_nnz"] is None and table["imp", 0.95]["runs"] == 1
    one = json.loads(
        invoke(app, "leaderboard", "--json", "--target", "0.99", "--width", "16", "--db", str(db))
    )
    assert [(r["algorithm"], r["weight_nnz"], r["frontier_weight_nnz"]) for r in one] == [
        ("snip", 45, 30)
    ]
    fixed = json.loads(invoke(app, "leaderboard", "--json", "--init", "fixed", "--db", str(db)))
    assert {r["algorithm"] for r in fixed} == {"imp"}


def test_leaderboard_and_frontier_tables(
    app: typer.Typer, db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPARSEST_DB", str(db))
    monkeypatch.setenv("COLUMNS", "200")
    out = invoke(app, "leaderboard")
    assert "snip" in out and "1.60x" in out
    out = invoke(app, "frontier")
    assert "optimal frontier" in out and "Pareto curve" in out and "m1" in out
    data = json.loads(invoke(app, "frontier", "--json"))
    assert [(r["target"], r["weight_nnz"]) for r in data["frontier"]] == [(0.95, 25), (0.995, 30)]
    assert [p["weight_nnz"] for p in data["pareto"]] == [25, 30]


def test_sql_outputs(app: typer.Typer, db: Path) -> None:
    query = "SELECT run_key, widths, finished_at FROM runs WHERE run_key = 's2'"
    rows = json.loads(invoke(app, "sql", query, "--json", "--db", str(db)))
    assert rows[0]["run_key"] == "s2" and rows[0]["widths"] == [16, 16, 16]
    assert isinstance(rows[0]["finished_at"], str)
    out = invoke(
        app,
        "sql",
        "SELECT run_key, accuracy FROM runs ORDER BY 1 LIMIT 2",
        "--csv",
        "--db",
        str(db),
    )
    assert out.splitlines() == ["run_key,accuracy", "i1,0.9", "m1,0.96"]
    assert "1 row" in invoke(app, "sql", "SELECT 42 AS answer", "--db", str(db))
    assert "leaderboard(algorithm VARCHAR" in invoke(app, "sql", "--schema")
    assert "--schema" in fails(app, "sql", "--db", str(db))


def test_export(app: typer.Typer, db: Path, tmp_path: Path) -> None:
    out = tmp_path / "runs.json"
    assert "wrote 5 rows" in invoke(app, "export", str(out), "--db", str(db))
    assert len(json.loads(out.read_text())) == 5
    csv_out = tmp_path / "lb.txt"
    invoke(app, "export", str(csv_out), "--format", "csv", "-q", "leaderboard", "--db", str(db))
    assert csv_out.read_text().startswith("algorithm,target,")


def test_bad_input_is_a_one_line_user_error(app: typer.Typer, db: Path, tmp_path: Path) -> None:
    assert "syntax error" in fails(app, "sql", "SELEC 1", "--db", str(db))
    assert "read-only" in fails(app, "sql", "DELETE FROM runs", "--db", str(db))
    assert json.loads(
        invoke(app, "sql", "SELECT count(*) AS n FROM runs", "--json", "--db", str(db))
    ) == [{"n": 5}]
    assert "--csv and --json" in fails(app, "sql", "SELECT 1", "--csv", "--json", "--db", str(db))
    assert "no results store" in fails(app, "leaderboard", "--db", str(tmp_path / "none.duckdb"))
    assert "fraction" in fails(app, "leaderboard", "--target", "95", "--db", str(db))
    assert "random or fixed" in fails(app, "leaderboard", "--init", "lucky", "--db", str(db))
    assert "format" in fails(app, "export", str(tmp_path / "x.xlsx"), "--db", str(db))
    not_db = tmp_path / "notes.txt"
    not_db.write_text("hello")
    assert "not a DuckDB database" in fails(app, "frontier", "--db", str(not_db))
