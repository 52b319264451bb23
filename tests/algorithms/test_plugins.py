"""Plug-ins: a package outside sparsest registers an algorithm through the entry point
group `sparsest.algorithms` (tests/plugin_pkg, installed with pip into a temporary
folder); the registry, `sparsest algorithms`, `sparsest prune` and specs use it like a
built-in one, and a bad plug-in is one line and skipped."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from algorithms.registry import ALGORITHMS, BUILT_INS
from harness.training.datasets import load_dataset
from harness.training.engines.base import SGDConfig
from harness.training.population import Population
from harness.training.session import TrainingSession

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "tests" / "plugin_pkg"
NAME = "demo-magnitude-init"

BAD_ENTRY_POINTS = """\
[sparsest.algorithms]
missing = no_such_module_for_sparsest:Thing
not-a-class = os:sep
taken = algorithms.snip:Snip
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tests/plugin_pkg installed (pip, offline, no build isolation) into a fresh folder,
    and beside it a distribution whose three entry points are all bad."""
    tmp = tmp_path_factory.mktemp("plugins")
    source = tmp / "src"
    shutil.copytree(PACKAGE, source)  # pip builds in place: keep tests/ clean
    target = tmp / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
         "--no-build-isolation", "--disable-pip-version-check", "--target", str(target),
         str(source)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    bad = target / "sparsest_bad_plugins-0.1.dist-info"
    bad.mkdir()
    (bad / "METADATA").write_text("Metadata-Version: 2.1\nName: sparsest-bad-plugins\n")
    (bad / "entry_points.txt").write_text(BAD_ENTRY_POINTS)
    return target


@pytest.fixture
def installed(site: Path) -> Iterator[Path]:
    """The plug-ins on sys.path and the registry reloaded; undone afterwards."""
    sys.path.insert(0, str(site))
    ALGORITHMS.reload()
    try:
        yield site
    finally:
        sys.path.remove(str(site))
        sys.modules.pop("sparsest_demo_plugin", None)
        ALGORITHMS.reload()


def test_without_plug_ins_the_registry_is_the_built_ins() -> None:
    assert dict(ALGORITHMS) == BUILT_INS
    assert {ALGORITHMS.origin(name) for name in ALGORITHMS} == {"built-in"}
    assert ALGORITHMS.errors == []


def test_a_plug_in_joins_the_registry_and_bad_ones_are_skipped(installed: Path) -> None:
    assert list(ALGORITHMS) == [*BUILT_INS, NAME]
    assert ALGORITHMS.origin(NAME) == "sparsest-demo-plugin"
    assert ALGORITHMS["snip"] is BUILT_INS["snip"]
    errors = ALGORITHMS.errors
    assert len(errors) == 3 and all("\n" not in e for e in errors)
    missing, not_a_class, taken = errors
    assert "'missing'" in missing and "ModuleNotFoundError" in missing
    assert "'not-a-class'" in not_a_class and "not a class" in not_a_class
    assert "'taken'" in taken and "'snip' is taken (built-in)" in taken
    assert all("sparsest-bad-plugins" in e and "skipped" in e for e in errors)


def test_a_plug_in_runs_with_exact_budgets(installed: Path) -> None:
    cls = ALGORITHMS[NAME]
    targets = [4, 7, 20]
    population = Population.initialize(
        (2, 3, 3, 3, 1), [0, 1, 2], [0.1, 0.05, 0.2], ["cosine", "constant", "cosine"]
    )
    session = TrainingSession(population, load_dataset("xor"), SGDConfig(epochs=1), "torch")
    cls(cls.Params()).run(session, torch.tensor(targets))
    assert population.weight_nnz().tolist() == targets


def test_a_spec_names_a_plug_in(installed: Path) -> None:
    from harness.sweeps.spec_file import parse_spec

    text = f'[prune]\nalgorithms = ["{NAME}", "snip"]\nwidths = [3]\nnnz = [10]\n'
    assert parse_spec(text, "spec").prune.algorithms == (NAME, "snip")
    everything = parse_spec(text.replace(f'"{NAME}", "snip"', '"all"'), "spec")
    assert NAME in everything.prune.algorithms


def _sparsest(site: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(ROOT)])}
    return subprocess.run(
        [sys.executable, "-m", "harness.cli.main", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_cli_lists_and_prunes_with_a_plug_in_and_reports_bad_ones_in_one_line(
    site: Path,
) -> None:
    listed = _sparsest(site, "algorithms", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = {row["name"]: row for row in json.loads(listed.stdout)}
    assert rows[NAME]["origin"] == "sparsest-demo-plugin"
    assert rows["snip"]["origin"] == "built-in"
    assert rows[NAME]["hparams"][0]["name"] == "train"
    warnings = listed.stderr.strip().splitlines()
    assert len(warnings) == 3 and all(w.startswith("warning: plug-in ") for w in warnings)
    assert "Traceback" not in listed.stderr

    pruned = _sparsest(
        site, "prune", "--algorithm", NAME, "--width", "3", "--nnz", "10", "--epochs", "1",
        "--lrs", "0.1", "--schedules", "constant", "--engine", "torch", "--device", "cpu",
        "--dataset", "xor", "--json",
    )  # fmt: skip
    assert pruned.returncode == 0, pruned.stderr
    (run,) = json.loads(pruned.stdout)
    assert run["algorithm"] == NAME and run["achieved_nnz"] == 10


def test_the_tui_offers_a_plug_in(installed: Path) -> None:
    from tui import harness_api

    saved, harness_api._info = harness_api._info, None
    try:
        assert NAME in harness_api.load_info().algorithms
    finally:
        harness_api._info = saved
