"""The specs committed under docs/ (the measurements and the reproduction the README
cites) still load and validate, so their commands stay true."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.sweeps.spec_file import load_spec

DOCS = Path(__file__).resolve().parents[2] / "docs"
SPECS = sorted(DOCS.rglob("*.toml"))


def test_the_docs_hold_specs() -> None:
    assert {p.parent.name for p in SPECS} >= {"specs"} and len(SPECS) >= 5


@pytest.mark.parametrize("path", SPECS, ids=lambda p: str(p.relative_to(DOCS)))
def test_a_committed_spec_loads(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(path.parent)  # as the README runs it: includes are relative
    spec = load_spec(path.name)
    assert spec.name
