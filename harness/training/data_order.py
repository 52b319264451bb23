"""Data order: which point each model sees at each step.

Every model owns a data seed; epoch e's order is a Fisher-Yates shuffle driven by a
counter-based hash of (seed, epoch, position). An order is therefore a pure function of
(seed, epoch, n): independent of which other models share the population, of the
backend and of the device, which is what makes a model's result batch-invariant.
"""

from __future__ import annotations

import numba
import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


@numba.njit(inline="always")
def _splitmix64(z: np.uint64) -> np.uint64:
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@numba.njit(inline="always")
def stream_key(seed: np.int64, epoch: np.int64) -> np.uint64:
    """The key of one (seed, epoch) random stream."""
    return _splitmix64(
        _splitmix64(np.uint64(seed) + _GOLDEN) ^ (np.uint64(epoch) * np.uint64(0xD1B54A32D192ED03))
    )


@numba.njit(inline="always")
def draw_below(key: np.uint64, position: np.int64, bound: np.int64) -> np.int64:
    """A draw in [0, bound) for one position of a stream (Lemire's multiply-shift)."""
    r = _splitmix64(key + np.uint64(position) * _GOLDEN) >> np.uint64(32)
    return np.int64((r * np.uint64(bound)) >> np.uint64(32))


@numba.njit(cache=True)
def fill_order(out: np.ndarray, seed: np.int64, epoch: np.int64) -> None:
    """Write epoch `epoch`'s permutation of range(len(out)) for `seed` into `out`."""
    n = out.shape[0]
    for i in range(n):
        out[i] = i
    key = stream_key(seed, epoch)
    for i in range(n - 1, 0, -1):
        j = draw_below(key, i, i + 1)
        tmp = out[i]
        out[i] = out[j]
        out[j] = tmp


@numba.njit(cache=True, parallel=True)
def fill_orders(out: np.ndarray, seeds: np.ndarray, epoch: np.int64) -> None:
    """Write epoch `epoch`'s order for seeds[m] into row m of `out` [len(seeds), n]."""
    for m in numba.prange(seeds.shape[0]):
        fill_order(out[m], seeds[m], epoch)


def epoch_orders(seeds: np.ndarray, epoch: int, n: int) -> np.ndarray:
    """The orders of one epoch: int32 [len(seeds), n], row m a permutation of range(n)."""
    seeds = np.ascontiguousarray(seeds, dtype=np.int64)
    out = np.empty((seeds.shape[0], n), dtype=np.int32)
    fill_orders(out, seeds, np.int64(epoch))
    return out
