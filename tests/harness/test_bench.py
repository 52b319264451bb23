"""`sparsest bench` and harness.bench, on a tiny configuration."""

import json

from typer.testing import CliRunner

from harness.bench import SUITES, BenchOptions
from harness.cli import app


def test_train_suite_rows() -> None:
    options = BenchOptions(population=4, epochs=1, widths=((3, 3, 3),), baseline_steps=5)
    (row,) = SUITES["train"](options)
    assert row.width == (3, 3, 3) and row.population == 4 and row.device == "cpu"
    assert row.model_epochs_per_s > 0 and row.baseline_model_epochs_per_s > 0
    assert row.speedup == row.model_epochs_per_s / row.baseline_model_epochs_per_s
    assert row.engine == "numba/fused"


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
