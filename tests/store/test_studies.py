"""One store, several initialisation studies: the frontier, the leaderboard, the Pareto
curves and the minimal structures keep them apart, and a store written before the
studies had names (own-width search rows without `init_width`) keeps its meaning."""

from __future__ import annotations

from store import queries
from store.db import ResultsStore
from tests.store.helpers import make_record

RANDOM = '{"init_width": 16}'
PAPER_95 = '{"fixed_network": "paper-95", "fixed_width": 16}'


def search(key: str, weight_nnz: int, accuracy: float, hparams: str, init_mode: str = "random",
           kind: str = "search-phase2"):  # type: ignore[no-untyped-def]  # fmt: skip
    return make_record(key, kind=kind, algorithm="mask" if kind == "search-phase2" else "dense",
                       target_weight_nnz=None, weight_nnz=weight_nnz, model_nnz=weight_nnz + 7,
                       accuracy=accuracy, init_mode=init_mode, hparams=hparams)  # fmt: skip


def prune(key: str, weight_nnz: int, accuracy: float, hparams: str = "{}", init_mode="random"):  # type: ignore[no-untyped-def]
    return make_record(key, weight_nnz=weight_nnz, target_weight_nnz=weight_nnz,
                       accuracy=accuracy, init_mode=init_mode, hparams=hparams)  # fmt: skip


def store_with_both_studies(tmp_path) -> ResultsStore:  # type: ignore[no-untyped-def]
    store = ResultsStore(tmp_path / "both.duckdb")
    store.initialize()
    store.write_runs([
        search("r1", 30, 0.96, RANDOM), search("r2", 25, 0.94, RANDOM),
        search("f1", 22, 0.97, PAPER_95, "fixed"), search("f2", 18, 0.90, PAPER_95, "fixed"),
        search("p1r", 60, 0.97, RANDOM, kind="search-phase1"),
        search("p1f", 60, 0.97, PAPER_95, "fixed", kind="search-phase1"),
        prune("sr", 40, 0.955), prune("sf", 33, 0.96, '{"fixed_network": "paper-95"}', "fixed"),
    ])  # fmt: skip
    return store


def test_the_frontier_and_leaderboard_are_per_study(tmp_path) -> None:  # type: ignore[no-untyped-def]
    store = store_with_both_studies(tmp_path)
    front = {(r.target, r.run_key) for r in queries.frontier(store, targets=[0.95])}
    assert front == {(0.95, "r1"), (0.95, "f1")}  # not f1 alone: each study its own
    with store.read() as conn:
        rows = conn.execute(
            "SELECT init, weight_nnz, frontier_weight_nnz, gap_ratio FROM leaderboard_at("
            "targets := [0.95]) ORDER BY init"
        ).fetchall()
        minimal = conn.execute("SELECT init, run_key FROM minimal_structure ORDER BY 1").fetchall()
        curves = conn.execute(
            "SELECT init, min(weight_nnz) FROM pareto WHERE algorithm = 'search' GROUP BY 1 "
            "ORDER BY 1"
        ).fetchall()
    assert rows == [("fixed:paper-95", 33, 22, 1.5), ("random", 40, 30, 40 / 30)]
    assert {init for init, _ in minimal} == {"fixed:paper-95", "random"}
    assert [init for init, _ in curves] == ["fixed:paper-95", "random"]


def test_a_store_from_before_the_studies_keeps_its_frontier(tmp_path) -> None:  # type: ignore[no-untyped-def]
    store = ResultsStore(tmp_path / "old.duckdb")
    store.initialize()
    store.write_runs([search("o1", 21, 0.96, "{}"), prune("sr", 42, 0.96)])
    board = [r for r in queries.leaderboard(store, target=0.95)]
    assert [(r.weight_nnz, r.frontier_weight_nnz) for r in board] == [(42, 21)]
    with store.read() as conn:
        (init,) = conn.execute("SELECT init FROM frontier").fetchone()
    assert init == "random-own-width"  # an own-width search, named as such
