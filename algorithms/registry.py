"""The one list of pruning algorithms, by short name: the built-ins, then the plug-ins
other packages register (algorithms.plugins), looked up on first use.

`NAME+repair` is algorithm NAME with effective-sparsity repair (algorithms.repair), for
any NAME; it is composed when first named and listed from then on."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from algorithms import plugins
from algorithms.base import Algorithm
from algorithms.chita import Chita
from algorithms.force import Force
from algorithms.grasp import Grasp
from algorithms.imp import GradualMagnitude
from algorithms.iter_snip import IterativeSnip
from algorithms.lrr import LearningRateRewinding
from algorithms.lth import LotteryTicket
from algorithms.magnitude_after import MagnitudeAfterTraining
from algorithms.ntk_sap import NtkSap
from algorithms.prospr import ProsPr
from algorithms.random_mask import RandomMask
from algorithms.repair import SUFFIX, repaired
from algorithms.rigl import RigL
from algorithms.snip import Snip
from algorithms.srigl import SRigL
from algorithms.synflow import SynFlow
from algorithms.wanda import Wanda
from algorithms.width_then_weights import WidthThenWeights

BUILT_INS: dict[str, type[Algorithm]] = {
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
        Wanda,
        LearningRateRewinding,
        NtkSap,
        SRigL,
        Chita,
        WidthThenWeights,
    )
}


class AlgorithmRegistry(Mapping[str, type[Algorithm]]):
    """Name -> algorithm class. Iterating lists the built-ins in their order, then the
    installed plug-ins (by name): the same list whatever the process looked up before.
    `NAME+repair` is composed on its first lookup and cached apart, so a lookup works
    (and `in` holds) for every such name, but none is listed. Plug-ins are looked up
    once, on first use; a bad one is skipped, its reason kept in `errors` (and reported,
    see algorithms.plugins.set_reporter)."""

    def __init__(self, built_ins: Mapping[str, type[Algorithm]]) -> None:
        self._built_ins = dict(built_ins)
        self._table: dict[str, type[Algorithm]] | None = None
        self._compositions: dict[str, type[Algorithm]] = {}
        self._origins: dict[str, str] = {}
        self._errors: list[str] = []

    def _loaded(self) -> dict[str, type[Algorithm]]:
        if self._table is None:
            classes, origins, errors = plugins.load_plugins(self._built_ins)
            self._table = {**self._built_ins, **classes}
            self._origins = {name: plugins.BUILT_IN for name in self._built_ins} | origins
            self._errors = errors
            for line in errors:
                plugins.report(line)
        return self._table

    def __getitem__(self, name: str) -> type[Algorithm]:
        table = self._loaded()
        if name in table:
            return table[name]
        if name not in self._compositions and name.endswith(SUFFIX):
            base = name.removesuffix(SUFFIX)
            if SUFFIX not in base and base in table:
                self._compositions[name] = repaired(table[base])
                self._origins[name] = self._origins[base]
        return self._compositions[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._loaded())

    def __len__(self) -> int:
        return len(self._loaded())

    def origin(self, name: str) -> str:
        """'built-in', or the distribution a plug-in came from (a composition's base's)."""
        self[name]  # loads the table; composes NAME+repair
        return self._origins[name]

    @property
    def errors(self) -> list[str]:
        """One line per plug-in that was skipped."""
        self._loaded()
        return list(self._errors)

    def reload(self) -> None:
        """Forget the plug-ins; the next use looks them up again (after installing one)."""
        self._table = None
        self._compositions = {}


ALGORITHMS = AlgorithmRegistry(BUILT_INS)


class UnknownAlgorithmError(ValueError):
    pass


def get_algorithm(name: str) -> type[Algorithm]:
    if name not in ALGORITHMS:
        raise UnknownAlgorithmError(
            f"unknown algorithm {name!r}; choose from: {', '.join(ALGORITHMS)}"
        )
    return ALGORITHMS[name]
