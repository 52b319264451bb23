"""A search's runs: one planned training per network and grid point.

Seeds. `random` and `random-own-width` init: a run's init and data order come from a
seed derived from (widths, mask, seed), shared across the lr x schedule grid and
distinct across masks and seeds; `random` draws a `width`-wide network (16 for the
paper) from it and cuts it to the structure, as the reference does. `fixed` init: seed
s names one network (harness.training.initialisation) from which every structure or
mask is cut, unless a named network is given; the data order comes from s.
"""

from __future__ import annotations

import json

from harness.training.initialisation import derive_seed, network_label
from harness.training.run_spec import RunSpec, is_seed
from harness.training.unit import PlannedRun


def init_hparams(init_mode: str, width: int, network: str = "") -> tuple[tuple[str, str], ...]:
    """What names a search run's init in its run key: the fixed network's width (and its
    name, when it is not seeded per run), or the width a `random` network is cut from."""
    if init_mode == "fixed":
        if network and not is_seed(network):  # its own width: max_width aside
            return (("fixed_network", json.dumps(network_label(network))),)
        named = (("fixed_network", json.dumps(network)),) if network else ()
        return (*named, ("fixed_width", json.dumps(width)))
    if init_mode == "random":
        return (("init_width", json.dumps(width)),)
    return ()


def make_run(
    kind: str, algorithm: str, dataset: str, widths: tuple[int, ...], init_mode: str,
    point: tuple[float, str, int], epochs: int, init: tuple[tuple[str, str], ...],
    mask_hex: str | None = None,
) -> PlannedRun:  # fmt: skip
    """One grid `point` (lr, schedule, seed) of a network, seeded as the module says;
    `init`: init_hparams of the search."""
    lr, schedule, seed = point
    spec = RunSpec(
        kind, algorithm, dataset, widths, init_mode, seed, lr, schedule, epochs,
        mask=mask_hex, hparams=init,
    )  # fmt: skip
    if init_mode == "fixed":
        return PlannedRun.of(spec, seed, seed)
    derived = derive_seed(widths, mask_hex, seed)
    return PlannedRun.of(spec, derived, derived)
