"""`sparsest bench`, harness.bench.bench and harness.bench.suites, on tiny configurations."""

import json
import math
from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

from algorithms.registry import ALGORITHMS
from harness.bench import bench
from harness.bench.bench import BenchOptions, BenchRow
from harness.bench.suites import SUITES, PruneRow, SearchRow, paper_95_trainings
from harness.cli.main import app
from harness.training.engines.base import SGDConfig


def check_row(row: BenchRow, suite: str, width: tuple[int, ...], population: int) -> None:
    assert row.suite == suite and row.width == width and row.population == population
    assert row.device == "cpu" and row.engine.startswith("numba")
    assert row.model_epochs_per_s > 0 and row.baseline_model_epochs_per_s > 0
    assert row.speedup > 0 and math.isfinite(row.speedup)
    assert row.compile_s >= 0 and row.baseline_steps > 0


def test_train_suite_rows() -> None:
    options = BenchOptions(population=4, epochs=1, widths=((3, 3, 3),), baseline_steps=5)
    (row,) = SUITES["train"].run(options)
    check_row(row, "train", (3, 3, 3), 4)
    assert row.engine == "numba/fused"


def test_train_suite_rates_from_fixed_timings(monkeypatch: pytest.MonkeyPatch) -> None:
    """With a clock that only the stubbed trainings move (the plain loop: 1 ms a step;
    the population: 125 ms an epoch), the rates are known in advance: xor has 4900
    points, 38 batches of 128, so the loop makes 1 / 0.038 s model-epochs/s; 8 models
    make 8 / 0.125 = 64; the speedup is 64 * 0.038 = 2.432."""
    clock = [0.0]

    def reference(*args: object, max_steps: int, **kwargs: object) -> None:
        clock[0] += 0.001 * max_steps

    def population(state: object, data: object, config: SGDConfig, engine: object) -> None:
        clock[0] += 0.125 * config.epochs

    monkeypatch.setattr(bench, "time", SimpleNamespace(perf_counter=lambda: clock[0]))
    monkeypatch.setattr(bench, "train_reference", reference)
    monkeypatch.setattr(bench, "train", population)
    options = BenchOptions(
        population=8, epochs=3, widths=((3, 3, 3), (5, 5, 5)), dataset="xor", baseline_steps=20
    )
    rows = bench.train_suite(options)
    assert [row.width for row in rows] == [(3, 3, 3), (5, 5, 5)]
    for row in rows:
        assert math.isclose(row.baseline_model_epochs_per_s, 1 / 0.038)
        assert math.isclose(row.model_epochs_per_s, 64.0)
        assert math.isclose(row.speedup, 2.432)
        assert math.isclose(row.compile_s, 0.125)  # the one-epoch warm-up
        assert row.baseline_steps == 20 and row.population == 8


def test_paper_95_trainings() -> None:
    assert paper_95_trainings() == 155_952  # 25,992 masks x 2 lr x 3 schedules


def test_search_suite_rows() -> None:
    options = BenchOptions(population=6, epochs=2, dataset="xor", baseline_steps=5)
    (row,) = SUITES["search"].run(options)
    assert isinstance(row, SearchRow)
    check_row(row, "search", (3, 3, 3), 6)
    assert row.epoch_s > 0 and row.overhead_s >= 0
    assert row.paper_95_trainings == 155_952
    per_model = (row.overhead_s + 50 * row.epoch_s) / 6
    assert math.isclose(row.projected_paper_95_s, 155_952 * per_model)


def test_prune_suite_rows_every_algorithm() -> None:
    options = BenchOptions(population=3, epochs=1, dataset="xor", prune_width=(4, 4, 4))
    rows = SUITES["prune"].run(options)
    assert [row.algorithm for row in rows] == list(ALGORITHMS)
    steps = 4900 // 128
    for row in rows:
        assert isinstance(row, PruneRow)
        check_row(row, "prune", (4, 4, 4), 3)
        assert row.target_weight_nnz == 20 and row.seconds > 0 and row.baseline_seconds > 0
        assert row.baseline_steps == row.epochs_trained * steps
    trained = {row.algorithm: row.epochs_trained for row in rows}
    assert trained["lth"] == 5 and trained["magnitude-after"] == 2 and trained["snip"] == 1


def test_bench_command_json_and_unknown_suite() -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["bench", "--suite", "nope"])
    assert result.exit_code != 0
    result = runner.invoke(
        app, ["bench", "--json", "--population", "2", "--epochs", "1", "--device", "cpu"]
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [row["width"] for row in rows] == [[3, 3, 3], [16, 16, 16]]
    for key in ("suite", "population", "model_epochs_per_s", "baseline_model_epochs_per_s"):
        assert key in rows[0]
    assert rows[0]["speedup"] > 0 and rows[0]["device"] == "cpu"


def test_bench_command_search_table() -> None:
    args = ["bench", "--suite", "search", "--population", "2", "--epochs", "2", "--device", "cpu"]
    result = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "bench search" in result.output and "paper 95%" in result.output
