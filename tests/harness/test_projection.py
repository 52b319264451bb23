"""The projected time of a sweep (harness.sweeps.projection): the cost model's fit, the
per-machine calibration cache, and `sparsest run --dry-run`'s projection."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from harness.cli.main import app
from harness.sweeps import projection
from harness.sweeps.plan import plan_sweep
from harness.sweeps.projection import Cost, _fit, cached_costs, project
from harness.sweeps.spec_file import parse_spec
from harness.training.unit import WorkUnit

SPEC = """
name = "tiny"
dataset = "xor"
epochs = 2
lrs = [0.1]
schedules = ["cosine"]
targets = [0.9]
seeds = 2

[prune]
algorithms = ["snip", "random"]
widths = [4]
nnz = [10, 12]
"""


def test_the_fit_recovers_each_part_of_the_cost() -> None:
    unit = WorkUnit("u", "xor", (2, 4, 1), 1, runs=())
    truth = Cost(fixed=0.5, per_model=0.02, per_model_epoch=0.003, per_epoch=0.1)
    shapes = [(4, 1), (32, 1), (4, 2), (32, 2)]

    def with_runs(m: int, e: int) -> WorkUnit:
        return replace(unit, runs=tuple(range(m)), epochs=e)  # type: ignore[arg-type]

    slices = [with_runs(m, e) for m, e in shapes]
    seconds = [truth.seconds(m, m * e) for m, e in shapes]
    fitted = _fit(slices, seconds)
    for name in ("fixed", "per_model", "per_model_epoch", "per_epoch"):
        assert getattr(fitted, name) == pytest.approx(getattr(truth, name))


def test_calibration_is_cached_per_machine(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    plans = plan_sweep(parse_spec(SPEC, "tiny"))
    cache = tmp_path / "calibration.json"
    assert cached_costs(plans, calibrate_missing=False, path=cache) is None
    costs = cached_costs(plans, path=cache)
    assert costs is not None and set(costs) == {("snip", (4, 4, 4)), ("random", (4, 4, 4))}
    assert all(c.per_model_epoch >= 0 and c.fixed >= 0 for c in costs.values())
    stored = json.loads(cache.read_text())
    assert len(stored) == 1 and len(next(iter(stored.values()))) == 2

    def no_calibration(*args: object, **kwargs: object) -> None:
        raise AssertionError("calibrated again")

    monkeypatch.setattr(projection, "calibrate", no_calibration)
    assert cached_costs(plans, path=cache) == costs
    seconds = [part.seconds for part in project(plans, costs)]
    assert len(seconds) == 1 and seconds[0] > 0


def test_dry_run_prints_the_projection(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    spec = tmp_path / "tiny.toml"
    spec.write_text(SPEC)
    result = CliRunner().invoke(app, ["run", str(spec), "--dry-run", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["runs"] == 2 * 2 * 2 and out["projected_s"] > 0
    assert out["parts"][0]["projected_s"] == out["projected_s"]
    by_class = out["parts"][0]["projected_s_by_class"]
    assert set(by_class) == {"snip from 4-4-4", "random from 4-4-4"}
    assert sum(by_class.values()) == pytest.approx(out["projected_s"])
    table = CliRunner().invoke(app, ["run", str(spec), "--dry-run"])
    assert table.exit_code == 0, table.output
    assert "most of it: snip from 4-4-4 (" in " ".join(table.stdout.split()) or (
        "most of it: random from 4-4-4 (" in " ".join(table.stdout.split())
    )
    result = CliRunner().invoke(app, ["run", str(spec), "--dry-run", "--json", "--no-project"])
    assert "projected_s" not in json.loads(result.stdout.strip().splitlines()[-1])


def test_each_padded_shape_of_phase_1_is_its_own_cost_class() -> None:
    """Phase 1 pads structures to widths 4 and 8 here: 2**3 shapes that cost many times
    apart (4-4-8 and 8-8-8), so each is calibrated; pruning units are one shape each."""
    spec = "name = 's'\ndataset = 'xor'\nepochs = 1\n[search]\nmax_width = 8\nphase2 = false\n"
    plans = plan_sweep(parse_spec(spec, "s"))
    classes = {projection.cost_class(u) for p in plans for s in p.stages for u in s.units}
    assert classes == {("", (a, b, c)) for a in (4, 8) for b in (4, 8) for c in (4, 8)}
