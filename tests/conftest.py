"""Tests run two xdist workers on two cores: one torch thread each keeps them from
oversubscribing the CPU. No test reads the user's calibration cache (the projection's,
harness.sweeps.projection): each session gets an empty one."""

import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _own_calibration_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.getbasetemp() / "cache"))
