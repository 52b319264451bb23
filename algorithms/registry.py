"""The one list of pruning algorithms, by short name."""

from __future__ import annotations

from algorithms.base import Algorithm
from algorithms.force import Force
from algorithms.grasp import Grasp
from algorithms.imp import GradualMagnitude
from algorithms.iter_snip import IterativeSnip
from algorithms.lth import LotteryTicket
from algorithms.magnitude_after import MagnitudeAfterTraining
from algorithms.prospr import ProsPr
from algorithms.random_mask import RandomMask
from algorithms.rigl import RigL
from algorithms.snip import Snip
from algorithms.synflow import SynFlow

ALGORITHMS: dict[str, type[Algorithm]] = {
    cls.name: cls
    for cls in (
        GradualMagnitude,
        LotteryTicket,
        Snip,
        IterativeSnip,
        Force,
        Grasp,
        SynFlow,
        ProsPr,
        RigL,
        RandomMask,
        MagnitudeAfterTraining,
    )
}


class UnknownAlgorithmError(ValueError):
    pass


def get_algorithm(name: str) -> type[Algorithm]:
    if name not in ALGORITHMS:
        raise UnknownAlgorithmError(
            f"unknown algorithm {name!r}; choose from: {', '.join(ALGORITHMS)}"
        )
    return ALGORITHMS[name]
