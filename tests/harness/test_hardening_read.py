"""`sparsest show` and `plot` on bad input and on a damaged store: one `error:` line and
exit 2, never a traceback (issue 14)."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from tests.store.helpers import refused, run_cli
from tests.tui.snapshot_app import build_store


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_store(tmp_path_factory.mktemp("read") / "fixed.duckdb")


@pytest.fixture
def db(template: Path, tmp_path: Path) -> Path:
    path = tmp_path / "results.duckdb"
    shutil.copy(template, path)
    return path


def _kept_run(db: Path) -> str:
    """A run stored with its weights (so `show` draws it)."""
    with duckdb.connect(str(db), read_only=True) as conn:
        return str(
            conn.execute(
                "SELECT run_key FROM masks WHERE weights IS NOT NULL ORDER BY run_key LIMIT 1"
            ).fetchall()[0][0]
        )


def _tamper(db: Path, sql: str, key: str) -> None:
    with duckdb.connect(str(db)) as conn:
        conn.execute(sql, [key])


def test_show_draws_an_intact_run(capsys: pytest.CaptureFixture[str], db: Path) -> None:
    key = _kept_run(db)
    result = run_cli(capsys, "show", key, "--db", str(db))
    assert result.code == 0 and key in result.out


@pytest.mark.parametrize(
    "tampering",
    [
        "UPDATE masks SET mask = '\\x01'::BLOB WHERE run_key = ?",
        "UPDATE masks SET weights = '\\x00\\x00'::BLOB WHERE run_key = ?",
        "UPDATE runs SET widths = [3, 100000, 3] WHERE run_key = ?",
        "UPDATE runs SET widths = [100000, 100000, 100000] WHERE run_key = ?",
    ],
    ids=["short-mask", "short-weights", "wide-widths", "huge-widths"],
)
def test_show_names_a_tampered_run_corrupt(
    capsys: pytest.CaptureFixture[str], db: Path, tampering: str
) -> None:
    key = _kept_run(db)
    _tamper(db, tampering, key)
    assert refused(capsys, "show", key, "--db", str(db)).startswith(f"error: corrupt run {key}")


def test_show_png_of_an_unknown_format(
    capsys: pytest.CaptureFixture[str], db: Path, tmp_path: Path
) -> None:
    out = tmp_path / "x.txt"
    line = refused(capsys, "show", _kept_run(db), "--png", str(out), "--db", str(db))
    assert "image format" in line and not out.exists()


@pytest.mark.parametrize("name", ["x.txt", "no-suffix"])
def test_plot_to_an_unknown_format(
    capsys: pytest.CaptureFixture[str], db: Path, tmp_path: Path, name: str
) -> None:
    out = tmp_path / name
    assert "image format" in refused(capsys, "plot", str(out), "--db", str(db))
    assert not out.exists()


@pytest.mark.parametrize(
    ("option", "reason"),
    [(("--init", "xyz"), "choose random or fixed"), (("--width", "-3"), "positive integer"),
     (("--width", "0"), "positive integer")],
)  # fmt: skip
def test_plot_rejects_filters_as_leaderboard_does(
    capsys: pytest.CaptureFixture[str],
    db: Path,
    tmp_path: Path,
    option: tuple[str, str],
    reason: str,
) -> None:
    out = tmp_path / "plot.png"
    plot = refused(capsys, "plot", str(out), *option, "--db", str(db))
    board = refused(capsys, "leaderboard", *option, "--db", str(db))
    assert plot == board and reason in plot
    assert not out.exists()
