"""`sparsest bench --suite tui` (harness.bench.tui_suite): it reports figures; nothing
here bounds them."""

import json

import pytest
from typer.testing import CliRunner

from harness.bench import tui_suite
from harness.bench.tui_suite import TuiOptions, TuiRow
from harness.cli.main import app


@pytest.mark.slow  # ~15 s: five app start-ups
def test_the_suite_reports_start_up_and_key_response_figures() -> None:
    rows = tui_suite.tui_suite(TuiOptions(runs=500, repeat=1, keys=4, load="busy"))
    assert [(row.measure, row.how) for row in rows] == [
        ("start-up: first frame", "sparsest tui --db DB"),
        ("start-up: leaderboard", "sparsest tui --db DB"),
        ("start-up: first frame", "make_app(DB).run()"),
        ("start-up: leaderboard", "make_app(DB).run()"),
        ("key response", "app, headless"),
    ]
    assert [row.samples for row in rows] == [1, 1, 1, 1, 4], rows
    for row in rows:
        assert row.suite == "tui"
        assert row.median_ms is not None and row.p95_ms is not None
        assert 0 < row.median_ms <= row.p95_ms
    assert rows[0].note == "store of 500 runs"
    assert rows[-1].note == "while a process keeps a CPU busy"


def test_summary_of_samples() -> None:
    row = tui_suite.summary("m", "h", [0.001 * k for k in range(1, 21)], "n")
    assert (row.samples, row.median_ms) == (20, pytest.approx(10.5))
    assert row.p95_ms == pytest.approx(19.05)  # between the 19th and the 20th
    assert tui_suite.summary("m", "h", [0.25], "n").p95_ms == pytest.approx(250.0)
    assert tui_suite.summary("m", "h", [], "none came") == TuiRow(
        "tui", "m", "h", 0, None, None, "none came"
    )


def test_bench_command_tui_suite(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[TuiOptions] = []

    def fake(options: TuiOptions) -> list[TuiRow]:
        asked.append(options)
        return [
            TuiRow("tui", "key response", "app, headless", 40, 12.345, 40.0, "no load"),
            TuiRow("tui", "start-up: first frame", "cli", 0, None, None, "failed"),
        ]

    monkeypatch.setattr(tui_suite, "tui_suite", fake)
    runner = CliRunner()
    args = ["bench", "--suite", "tui", "--runs", "10", "--repeat", "2", "--keys", "5"]
    result = runner.invoke(app, [*args, "--load", "none", "--json"])
    assert result.exit_code == 0, result.output
    assert asked == [TuiOptions(runs=10, repeat=2, keys=5, load="none")]
    rows = json.loads(result.output)
    assert rows[0]["median_ms"] == 12.345 and rows[1]["median_ms"] is None
    result = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "bench tui" in result.output and "12.3" in result.output and "40.0" in result.output
    assert asked[-1].load == "sweep"  # the default
    result = runner.invoke(app, [*args, "--load", "nope"])
    assert result.exit_code != 0 and len(asked) == 2
