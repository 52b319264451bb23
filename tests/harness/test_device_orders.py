"""The data order made on the torch engine's device (issue 10, part 3): a permutation,
the CPU kernels' order bit for bit, independent of the other models, and a training
step whose kernels neither grow with the population nor read back to the host."""

from collections import Counter

import numpy as np
import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from harness.training.data_order import (
    ORDER_VERSION,
    domain_bits,
    epoch_orders,
    epoch_orders_torch,
    seed_keys,
)
from harness.training.datasets import circles, cubist_spiral, xor
from harness.training.engines.base import SGDConfig, TrainState
from harness.training.engines.numba_engine import NumbaEngine
from harness.training.engines.torch_engine import TorchEngine
from harness.training.population import Population
from harness.training.run_spec import RunSpec
from harness.training.schedules import SCHEDULES, epoch_learning_rates
from harness.training.trainer import train

DATA = cubist_spiral(points_per_arm=1000)  # 1,983 points, 15 steps an epoch
SEEDS = np.array([0, 1, 2, 7, 123_456_789, -5, 2**62, -(2**63), 2**63 - 1])
SIZES = [0, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 33, 100, 127, 128, 129, 1000, 1983]
DATASET_SIZES = [cubist_spiral().points, circles().points, xor().points]
CPU = torch.device("cpu")
SYNCS = {"_local_scalar_dense", "item", "is_nonzero", "equal", "nonzero", "masked_select"}


def _torch_orders(seeds: np.ndarray, epoch: int, n: int) -> np.ndarray:
    return epoch_orders_torch(torch.from_numpy(seed_keys(seeds)), epoch, n).numpy()


@pytest.mark.parametrize("n", SIZES + DATASET_SIZES + [2**16 + 1])
def test_orders_are_permutations_and_the_same_in_numba_and_torch(n: int) -> None:
    for epoch in (0, 1, 49, 2**40):
        orders = epoch_orders(SEEDS, epoch, n)
        assert orders.dtype == np.int32 and orders.shape == (len(SEEDS), n)
        assert (np.sort(orders, axis=1) == np.arange(n)).all()
        assert np.array_equal(_torch_orders(SEEDS, epoch, n), orders)


def test_large_domains_stay_exact() -> None:
    """Halves of at most 16 bits keep every product below 2^48 for any n an int32 order
    can hold; 2^20 + 1 points (a 21-bit domain) agree in both implementations."""
    assert domain_bits(2**31 - 1) == 31 and domain_bits(2) == 2 and domain_bits(5) == 3
    n = 2**20 + 1
    orders = epoch_orders(SEEDS[:2], 3, n)
    assert (np.sort(orders, axis=1) == np.arange(n)).all()
    assert np.array_equal(_torch_orders(SEEDS[:2], 3, n), orders)


def test_a_models_order_does_not_depend_on_its_companions() -> None:
    n = DATA.points
    crowd = np.arange(100, 164)
    together = epoch_orders(crowd, 5, n)
    on_device = _torch_orders(crowd, 5, n)
    for m in (0, 17, 63):
        alone = epoch_orders(crowd[m : m + 1], 5, n)[0]
        assert np.array_equal(together[m], alone)
        assert np.array_equal(on_device[m], alone)
        assert np.array_equal(_torch_orders(crowd[m : m + 3], 5, n)[0], alone)
    assert len({row.tobytes() for row in together}) == len(crowd)


def test_orders_change_with_seed_and_epoch() -> None:
    base = epoch_orders(np.array([5]), 2, 1000)[0]
    assert not np.array_equal(epoch_orders(np.array([6]), 2, 1000)[0], base)
    assert not np.array_equal(epoch_orders(np.array([5]), 3, 1000)[0], base)
    assert not np.array_equal(base, np.arange(1000))


def test_orders_are_well_mixed() -> None:
    """Deterministic (fixed seeds), with bounds far from the values: an order's correlation
    with position, times sqrt(n - 1), is about standard normal over seeds (here std 0.98,
    largest 4.2 of 3,000; at 6 rounds 6.2, at 4 rounds 34); consecutive points are as
    far apart as chance has them."""
    n = DATA.points
    orders = epoch_orders(np.arange(3000), 0, n).astype(np.float64)
    position = np.arange(n) - (n - 1) / 2
    z = ((orders - (n - 1) / 2) * position).sum(1) / (position**2).sum() * np.sqrt(n - 1)
    assert 0.9 < z.std() < 1.1
    assert np.abs(z).max() < 5.5
    big = epoch_orders(np.arange(8), 0, 49_982)
    near = (np.abs(np.diff(big, axis=1)) < 500).mean()  # chance: about 2%
    assert 0.015 < near < 0.025


def test_run_keys_name_the_order() -> None:
    spec = RunSpec("prune", "snip", "xor", (3, 3, 3), "random", 0, 0.1, "cosine", 10)
    assert spec.order == ORDER_VERSION == "feistel-1"
    from dataclasses import replace

    assert replace(spec, order="fisher-yates").run_key() != spec.run_key()


def _population(m: int, sizes: tuple[int, ...] = (2, 6, 6, 1)) -> Population:
    rng = np.random.default_rng(0)
    g = torch.Generator().manual_seed(1)
    masks = [torch.rand(m, o, i, generator=g) < 0.7 for i, o in zip(sizes[:-1], sizes[1:])]
    for mask in masks:
        mask[0::2] = True
    return Population.initialize(
        sizes,
        list(range(m)),
        rng.choice([0.05, 0.1, 0.2], m).tolist(),
        rng.choice(SCHEDULES, m).tolist(),
        weight_masks=masks,
    )


@pytest.mark.parametrize("on_device", [True, False])
def test_the_engines_orders_are_the_harness_orders(on_device: bool) -> None:
    engine = TorchEngine(DATA, SGDConfig(), CPU, device_orders=on_device)
    seeds = np.array([3, 1, 4, 1, 5])
    for epoch in (0, 7):
        made = engine.epoch_orders(seeds, epoch, DATA.points)
        assert isinstance(made, torch.Tensor) and made.dtype == torch.int64
        assert np.array_equal(made.numpy(), epoch_orders(seeds, epoch, DATA.points))


def test_device_orders_train_as_host_orders_and_as_the_numba_engine() -> None:
    """The torch engine on its own orders (run_epoch) is bit for bit the torch engine on
    epoch_orders' (run_steps), and within the engine-equivalence tolerance
    (tests/harness/test_numba_engine.py) of the numba engine."""
    config = SGDConfig(epochs=4)
    population = _population(9)
    fused, split, numba = population.clone(), population.clone(), population.clone()
    train(TrainState.fresh(fused), DATA, config, TorchEngine(DATA, config, CPU, device_orders=True))
    state = TrainState.fresh(split)
    engine = TorchEngine(DATA, config, CPU, device_orders=True)
    engine.import_state(state)
    seeds = split.data_seed.numpy()
    for epoch in range(config.epochs):
        lrs = epoch_learning_rates(split.lr.numpy(), split.schedule.numpy(), epoch, config.epochs)
        orders = epoch_orders(seeds, epoch, DATA.points)
        engine.run_steps(orders, 0, config.steps_per_epoch(DATA.points), lrs)
    engine.export_state(state)
    train(TrainState.fresh(numba), DATA, config, NumbaEngine(DATA, config))
    assert not torch.equal(fused.weights[0], population.weights[0])  # it trained
    for a, b, c in zip(
        [*fused.weights, *fused.biases],
        [*split.weights, *split.biases],
        [*numba.weights, *numba.biases],
    ):
        assert torch.equal(a, b)
        torch.testing.assert_close(a, c, atol=1e-5, rtol=0)


class _Ops(TorchDispatchMode):
    """Counts the aten operations dispatched while active."""

    def __init__(self) -> None:
        super().__init__()
        self.counts: Counter[str] = Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        self.counts[func.overloadpacket.__name__] += 1
        return func(*args, **(kwargs or {}))


def _epoch_ops(models: int, shared: bool = False) -> Counter[str]:
    """The aten ops of the torch engine's second epoch (its first made the keys and
    uploaded them), orders included, for `models` models (half of them masked)."""
    config = SGDConfig(epochs=2, shared_order=shared)
    population = _population(models)
    engine = TorchEngine(DATA, config, CPU, device_orders=True)
    engine.import_state(TrainState.fresh(population))
    seeds = population.data_seed.numpy()
    lrs = epoch_learning_rates(population.lr.numpy(), population.schedule.numpy(), 0, 2)
    engine.run_epoch(seeds, 0, DATA.points, lrs)
    lrs = epoch_learning_rates(population.lr.numpy(), population.schedule.numpy(), 1, 2)
    with _Ops() as ops:
        if shared:
            orders = engine.epoch_orders(seeds[:1], 1, DATA.points)
            engine.run_steps(orders.expand(models, -1), 0, 15, lrs)
        else:
            engine.run_epoch(seeds, 1, DATA.points, lrs)
    return ops.counts


@pytest.mark.parametrize("shared", [False, True])
def test_an_epochs_operations_do_not_grow_with_the_population(shared: bool) -> None:
    small, large = _epoch_ops(4, shared), _epoch_ops(64, shared)
    assert small == large
    assert sum(small.values()) > 15 * 10  # the 15 steps are in there
    assert not SYNCS & set(small), "a host synchronisation in the epoch"


def test_the_cached_kernels_name_the_order() -> None:
    """numba caches a kernel per its own file: one that compiles fill_order in must
    change (its text naming ORDER_VERSION) whenever the order does, or stale caches
    would keep the old order."""
    from pathlib import Path

    from harness.training.engines import numba_engine, sparse_kernel

    for module in (numba_engine, sparse_kernel):
        assert f'"{ORDER_VERSION}"' in Path(module.__file__).read_text()
