"""`sparsest show` and `sparsest plot` on a store a tiny sweep wrote."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from harness.cli.main import app
from harness.errors import UserError
from harness.sweeps.driver import SweepDriver
from harness.sweeps.spec_file import parse_spec
from store.db import ResultsStore
from tests.harness.test_sweep import TINY


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> ResultsStore:
    results = ResultsStore(tmp_path_factory.mktemp("inspect") / "runs.duckdb")
    SweepDriver(parse_spec(TINY), results).run()
    return results


def _a_prune_key(store: ResultsStore) -> str:
    with store.read() as conn:
        return conn.execute("SELECT run_key FROM runs WHERE kind = 'prune' LIMIT 1").fetchone()[0]


def test_show_prints_metrics_masks_and_boundary(store: ResultsStore, tmp_path: Path) -> None:
    key = _a_prune_key(store)
    png = tmp_path / "model.png"
    result = CliRunner().invoke(app, ["show", key[:8], "--db", str(store.path), "--png", str(png)])
    assert result.exit_code == 0, result.output
    assert key in result.output and "effective weights" in result.output and "▀" in result.output
    assert png.stat().st_size > 1000


def test_show_unknown_key_is_a_user_error(store: ResultsStore) -> None:
    result = CliRunner().invoke(app, ["show", "ffffffffffff", "--db", str(store.path)])
    assert isinstance(result.exception, UserError)


def test_plot_writes_a_png(store: ResultsStore, tmp_path: Path) -> None:
    out = tmp_path / "plot.png"
    result = CliRunner().invoke(app, ["plot", str(out), "--db", str(store.path)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:4] == b"\x89PNG"
