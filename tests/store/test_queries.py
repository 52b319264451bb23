"""Frontier, leaderboard, Pareto curve, read-only SQL and export on a small known store."""

from __future__ import annotations

import csv
import json
import math
import re
from pathlib import Path

import duckdb
import pytest

from store import queries
from store.db import ResultsStore, StoreError
from tests.store.helpers import make_record

SPIRAL = "cubist-spiral"


@pytest.fixture
def store(tmp_path: Path) -> ResultsStore:
    """Search: 25 weights reach 95%, 28 reach 99.5%. Pruning: snip 40 (95%) and 60
    (99.5%) at width 3; imp 50 (95%) at width 16 from a fixed init, never 99.5%."""
    s = ResultsStore(tmp_path / "results.duckdb")
    search = dict(target_weight_nnz=None, mask=None, weights=None)
    s.write_runs(
        [
            make_record(
                "p1",
                kind="search-phase1",
                algorithm="dense",
                weight_nnz=30,
                model_nnz=40,
                accuracy=0.97,
                **search,
            ),
            make_record(
                "p1b",
                kind="search-phase1",
                algorithm="dense",
                weight_nnz=32,
                model_nnz=38,
                widths=(4, 3, 2),
                accuracy=0.96,
                **search,
            ),
            make_record(
                "m1",
                kind="search-phase2",
                algorithm="mask",
                weight_nnz=25,
                accuracy=0.955,
                **search,
            ),
            make_record(
                "m2",
                kind="search-phase2",
                algorithm="mask",
                weight_nnz=25,
                accuracy=0.958,
                **search,
            ),
            make_record(
                "m3",
                kind="search-phase2",
                algorithm="mask",
                weight_nnz=28,
                accuracy=0.996,
                **search,
            ),
            make_record(
                "m4",
                kind="search-phase2",
                algorithm="mask",
                weight_nnz=20,
                accuracy=float("nan"),
                diverged=True,
                **search,
            ),
            make_record("s1", algorithm="snip", weight_nnz=40, effective_nnz=31, accuracy=0.96),
            make_record("s2", algorithm="snip", weight_nnz=60, accuracy=0.999),
            make_record("s3", algorithm="snip", weight_nnz=20, accuracy=0.7),
            make_record("i1", algorithm="imp", weight_nnz=20, accuracy=0.9),
            make_record("i2", algorithm="imp", weight_nnz=15, accuracy=float("nan"), diverged=True),
            make_record(
                "i3",
                algorithm="imp",
                weight_nnz=50,
                effective_nnz=44,
                accuracy=0.97,
                widths=(16, 16, 16),
                init_mode="fixed",
            ),
            make_record("o1", algorithm="snip", dataset="other", weight_nnz=5, accuracy=1.0),
            make_record(
                "o2", kind="search-phase1", dataset="other", weight_nnz=4, accuracy=1.0, **search
            ),
        ]
    )
    return s


def test_frontier_is_the_fewest_search_weights_reaching_each_target(store: ResultsStore) -> None:
    rows = queries.frontier(store, dataset=SPIRAL)
    assert [(r.target, r.weight_nnz, r.run_key, r.reached) for r in rows] == [
        (0.95, 25, "m2", 5),  # the diverged 20-weight mask does not count
        (0.995, 28, "m3", 1),
    ]
    assert rows[0].accuracy == 0.958 and rows[0].kind == "search-phase2"
    assert rows[0].widths == (3, 3, 3)
    custom = queries.frontier(store, targets=[0.5, 0.9999], dataset=SPIRAL)
    assert [(r.target, r.weight_nnz, r.reached) for r in custom] == [
        (0.5, 25, 5),
        (0.9999, None, 0),
    ]
    assert {r.dataset for r in queries.frontier(store)} == {SPIRAL, "other"}


def test_minimal_structure_has_the_fewest_parameters(store: ResultsStore) -> None:
    rows = queries.minimal_structure(store, dataset=SPIRAL)
    assert [(r.target, r.widths, r.model_nnz, r.run_key) for r in rows] == [
        (0.95, (4, 3, 2), 38, "p1b")
    ]


def test_leaderboard_gives_the_gap_to_the_frontier(store: ResultsStore) -> None:
    rows = queries.leaderboard(store, dataset=SPIRAL)
    table = {(r.algorithm, r.target, r.init): r for r in rows}
    snip95 = table["snip", 0.95, "random"]
    assert (snip95.weight_nnz, snip95.frontier_weight_nnz, snip95.run_key) == (40, 25, "s1")
    assert snip95.gap_ratio == pytest.approx(1.6)
    assert (snip95.best_accuracy, snip95.effective_nnz, snip95.reached, snip95.runs) == (
        0.96,
        31,
        2,
        3,
    )
    assert table["snip", 0.995, "random"].gap_ratio == pytest.approx(60 / 28)
    imp995 = table["imp", 0.995, "random"]
    assert (imp995.weight_nnz, imp995.gap_ratio, imp995.run_key, imp995.reached) == (
        None,
        None,
        None,
        0,
    )
    assert imp995.best_accuracy == 0.9  # the best any random-init imp run reached
    assert imp995.runs == 2
    # the fixed-init run is its own study: no fixed-init search here, so no frontier
    fixed95 = table["imp", 0.95, "fixed:seeded"]
    assert (fixed95.weight_nnz, fixed95.frontier_weight_nnz, fixed95.runs) == (50, None, 1)
    assert [(r.target, r.algorithm) for r in rows if r.init == "random"] == [
        (0.95, "snip"),
        (0.95, "imp"),
        (0.995, "snip"),
        (0.995, "imp"),
    ]
    other = queries.leaderboard(store, dataset="other", target=0.95)
    assert [(r.algorithm, r.weight_nnz, r.frontier_weight_nnz) for r in other] == [("snip", 5, 4)]


def test_leaderboard_filters(store: ResultsStore) -> None:
    wide = queries.leaderboard(store, width=16, dataset=SPIRAL)
    assert {(r.algorithm, r.target, r.weight_nnz, r.runs) for r in wide} == {
        ("imp", 0.95, 50, 1),
        ("imp", 0.995, None, 1),
    }
    random = queries.leaderboard(store, init_mode="random", target=0.9, dataset=SPIRAL)
    assert [(r.algorithm, r.weight_nnz, r.runs) for r in random] == [
        ("imp", 20, 2),
        ("snip", 40, 3),
    ]
    assert random[0].frontier_weight_nnz == 25 and random[0].gap_ratio == pytest.approx(0.8)
    assert queries.leaderboard(store, width=7) == []
    with pytest.raises(StoreError, match="fractions"):
        queries.leaderboard(store, target=95)


def test_the_views_match_the_query_functions(store: ResultsStore) -> None:
    _, view = queries.sql(
        store,
        "SELECT algorithm, target, init, weight_nnz, gap_ratio FROM leaderboard ORDER BY 1, 2, 3",
    )
    rows = queries.leaderboard(store)
    expected = [(r.algorithm, r.target, r.init, r.weight_nnz, r.gap_ratio) for r in rows]
    assert view == sorted(expected, key=lambda row: row[:3])
    _, view = queries.sql(store, "SELECT count(*) FROM frontier")
    assert view == [(len(queries.frontier(store)),)]


def test_pareto_curves(store: ResultsStore) -> None:
    search = queries.pareto(store, algorithm="search", dataset=SPIRAL)
    assert [(p.weight_nnz, p.best_accuracy, p.runs, p.on_front) for p in search] == [
        (20, None, 1, False),
        (25, 0.958, 2, True),
        (28, 0.996, 1, True),
        (30, 0.97, 1, False),
        (32, 0.96, 1, False),
    ]
    front = queries.pareto(store, dataset=SPIRAL, front_only=True)
    assert {(p.algorithm, p.weight_nnz) for p in front} == {
        ("search", 25),
        ("search", 28),
        ("snip", 20),
        ("snip", 40),
        ("snip", 60),
        ("imp", 20),
        ("imp", 50),
    }
    fixed = queries.pareto(store, init_mode="fixed", dataset=SPIRAL)
    assert {p.algorithm for p in fixed} == {"search", "imp"}


def test_sql_is_read_only_and_errors_are_one_line(store: ResultsStore) -> None:
    columns, rows = queries.sql(store, "SELECT run_key, widths FROM runs WHERE run_key = 's1'")
    assert columns == ["run_key", "widths"] and rows == [("s1", [3, 3, 3])]
    for statement in (
        "DELETE FROM runs",
        "DROP TABLE runs",
        "UPDATE runs SET accuracy = 1",
        "INSERT INTO targets VALUES (0.5)",
    ):
        with pytest.raises(StoreError, match="read-only") as error:
            queries.sql(store, statement)
        assert "\n" not in str(error.value)
    with pytest.raises(StoreError, match="syntax error") as error:
        queries.sql(store, "SELEC * FROM runs")
    assert "\n" not in str(error.value)
    with pytest.raises(StoreError, match="does not exist"):
        queries.sql(store, "SELECT * FROM no_such_table")
    assert queries.sql(store, "SELECT count(*) FROM runs")[1] == [(14,)]
    assert queries.sql(store, "SELECT * FROM runs", limit=2)[1].__len__() == 2


def test_export_formats(store: ResultsStore, tmp_path: Path) -> None:
    assert queries.export(store, tmp_path / "runs.parquet", "parquet") == 14
    with duckdb.connect() as conn:
        parquet = conn.execute(
            "SELECT count(*), list_sort(list(run_key))[1] FROM read_parquet(?)",
            [str(tmp_path / "runs.parquet")],
        ).fetchone()
    assert parquet == (14, "i1")
    # 2 targets x (snip, random-init imp, fixed-init imp on the spiral; snip on "other")
    assert queries.export(store, tmp_path / "lb.csv", "csv", "leaderboard") == 8
    with (tmp_path / "lb.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert rows[0]["algorithm"] and "gap_ratio" in rows[0]
    query = "SELECT run_key, accuracy FROM runs WHERE kind = 'prune' ORDER BY run_key;\n"
    assert queries.export(store, tmp_path / "p.json", "json", query) == 7
    data = json.loads((tmp_path / "p.json").read_text())
    assert data[0] == {"run_key": "i1", "accuracy": 0.9}
    assert data[1]["accuracy"] is None or math.isnan(data[1]["accuracy"])


def test_export_errors(store: ResultsStore, tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="unknown export format"):
        queries.export(store, tmp_path / "x.xlsx", "xlsx")
    with pytest.raises(StoreError, match="over the store"):
        queries.export(store, store.path, "csv")
    with pytest.raises(StoreError, match="cannot write"):
        queries.export(store, tmp_path / "missing-dir" / "x.csv", "csv")
    with pytest.raises(StoreError, match="does not exist"):
        queries.export(store, tmp_path / "x.csv", "csv", "no_such_view")


def test_schema_text_lists_tables_and_views() -> None:
    text = queries.schema_text()
    for name in ("runs(", "masks(", "sweeps(", "targets(", "frontier(", "leaderboard(", "pareto("):
        assert name in text
    assert "widths INTEGER[]" in text and "gap_ratio DOUBLE" in text


def test_the_example_queries_in_the_schema_doc_run(store: ResultsStore) -> None:
    text = (Path(__file__).resolve().parents[2] / "store" / "SCHEMA.md").read_text()
    blocks = re.findall(r"```sql\n(.*?)```", text, flags=re.S)
    statements = [s.strip() for block in blocks for s in block.split(";") if s.strip()]
    assert len(statements) >= 8
    for statement in statements:
        queries.sql(store, statement)


def test_activity_changes_with_runs_and_sweeps(store: ResultsStore, tmp_path: Path) -> None:
    before = queries.activity(store)
    assert before.runs == 14 and before.last_finished is not None and before.sweeps == ()
    sweep_id = store.create_sweep("s", "{}")
    store.write_runs([make_record("new", sweep_id=sweep_id)])
    after = queries.activity(store)
    assert after.runs == 15 and after.sweeps == ((sweep_id, "running"),)
    store.set_sweep_status(sweep_id, "done")
    assert queries.activity(store).sweeps == ((sweep_id, "done"),)
    empty = ResultsStore(tmp_path / "empty.duckdb")
    empty.initialize()
    assert queries.activity(empty) == queries.StoreActivity(0, None, ())


def test_filter_choices(store: ResultsStore) -> None:
    choices = queries.filter_choices(store)
    assert choices == queries.FilterChoices((3, 16), (SPIRAL, "other"), (0.95, 0.995))


def test_most_accurate_run_within_the_filters(store: ResultsStore) -> None:
    assert queries.most_accurate_run(store, "snip", SPIRAL) == "s2"
    assert queries.most_accurate_run(store, "imp", SPIRAL) == "i3"  # the diverged i2 never
    assert queries.most_accurate_run(store, "imp", SPIRAL, width=3) == "i1"
    assert queries.most_accurate_run(store, "imp", SPIRAL, init_mode="fixed") == "i3"
    assert queries.most_accurate_run(store, "imp", SPIRAL, width=3, init_mode="fixed") is None
    assert queries.most_accurate_run(store, "snip", "other") == "o1"
    assert queries.most_accurate_run(store, "synflow", SPIRAL) is None


def test_most_accurate_run_prefers_fewer_weights_among_equals(tmp_path: Path) -> None:
    store = ResultsStore(tmp_path / "ties.duckdb")
    store.write_runs(
        [
            make_record("b", weight_nnz=30, accuracy=0.9),
            make_record("c", weight_nnz=20, accuracy=0.9),
            make_record("a", weight_nnz=20, accuracy=0.9),
        ]
    )
    assert queries.most_accurate_run(store, "snip", SPIRAL) == "a"


def test_throughput_is_the_median_over_runs_that_trained(tmp_path: Path) -> None:
    store = ResultsStore(tmp_path / "speed.duckdb")
    store.write_runs(
        [
            make_record("a", epochs=50, wall_seconds=1.0),
            make_record("b", epochs=50, wall_seconds=2.0),
            make_record("c", epochs=100, wall_seconds=1.0),
            make_record("d", epochs=50, wall_seconds=0.0),  # no time measured
            make_record("e", epochs=50, wall_seconds=0.001, diverged=True),
            make_record("f", epochs=50, wall_seconds=0.001, dataset="other"),
        ]
    )
    assert queries.throughput(store, SPIRAL) == queries.Throughput(50.0, 3)
    assert queries.throughput(store, "other") == queries.Throughput(50_000.0, 1)
    assert queries.throughput(store, "nowhere") is None
