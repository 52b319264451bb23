"""Fixtures for the app's tests: the fixed store of tests/tui/snapshot_app.py, copied per test."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.tui.snapshot_app import build_store


@pytest.fixture(scope="session")
def fixed_store_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_store(tmp_path_factory.mktemp("fixed") / "snapshot.duckdb")


@pytest.fixture
def fixed_store(fixed_store_template: Path, tmp_path: Path) -> Path:
    """A copy of the fixed store (tests may add to it)."""
    path = tmp_path / "snapshot.duckdb"
    path.write_bytes(fixed_store_template.read_bytes())
    return path
