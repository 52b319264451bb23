"""A search's runs: one planned training per network and grid point.

Seeds. `random` init: a run's init and data order come from a seed derived from
(widths, mask, seed), shared across the lr x schedule grid and distinct across masks
and seeds. `fixed` init: seed s names one network (harness.training.initialisation)
from which every structure or mask is cut; the data order comes from s too.
"""

from __future__ import annotations

from harness.training.initialisation import derive_seed
from harness.training.run_spec import RunSpec
from harness.training.unit import PlannedRun


def _spec_hparams(init_mode: str, fixed_width: int) -> tuple[tuple[str, str], ...]:
    return (("fixed_width", str(fixed_width)),) if init_mode == "fixed" else ()


def make_run(
    kind: str, algorithm: str, dataset: str, widths: tuple[int, ...], init_mode: str,
    point: tuple[float, str, int], epochs: int, fixed_width: int, mask_hex: str | None = None,
) -> PlannedRun:  # fmt: skip
    """One grid `point` (lr, schedule, seed) of a network, seeded as the module says."""
    lr, schedule, seed = point
    spec = RunSpec(
        kind, algorithm, dataset, widths, init_mode, seed, lr, schedule, epochs,
        mask=mask_hex, hparams=_spec_hparams(init_mode, fixed_width),
    )  # fmt: skip
    if init_mode == "fixed":
        return PlannedRun.of(spec, seed, seed)
    derived = derive_seed(widths, mask_hex, seed)
    return PlannedRun.of(spec, derived, derived)
