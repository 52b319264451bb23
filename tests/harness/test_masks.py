"""Mask enumeration against brute force: every 0/1 matrix, every network of small
structures canonicalised under all hidden-neuron relabellings."""

import itertools
import math

import numpy as np
import pytest

from harness.search.masks import (
    MaskLimitError,
    count_layer_masks,
    count_structure_masks,
    enumerate_structure,
    layer_masks,
    pack_network_mask,
    structure_masks,
    unpack_network_mask,
)

SHAPES = [(1, 1), (1, 3), (3, 1), (2, 2), (2, 3), (3, 2), (3, 3), (3, 4), (4, 3), (4, 4), (2, 5)]


def valid_matrices(out: int, in_: int) -> np.ndarray:
    """Every 0/1 out x in matrix with no all-zero row or column, bool [K, out, in]."""
    bits = np.array(list(itertools.product([0, 1], repeat=out * in_)), dtype=bool)
    bits = bits.reshape(-1, out, in_)
    return bits[bits.any(axis=2).all(axis=1) & bits.any(axis=1).all(axis=1)]


def row_class(matrix: np.ndarray) -> tuple[tuple[int, ...], ...]:
    return tuple(sorted(tuple(int(v) for v in row) for row in matrix))


@pytest.mark.parametrize("shape", SHAPES)
def test_layer_masks_are_one_per_row_permutation_class_of_all_valid_matrices(
    shape: tuple[int, int],
) -> None:
    out, in_ = shape
    brute = {row_class(m) for m in valid_matrices(out, in_)}
    masks = layer_masks(out, in_)
    assert masks.shape[1:] == (out, in_) and masks.dtype == bool
    assert masks.any(axis=2).all() and masks.any(axis=1).all()
    classes = [row_class(m) for m in masks]
    assert len(set(classes)) == len(classes)  # one mask per class
    assert set(classes) == brute
    nnz = masks.sum(axis=(1, 2))
    assert (np.diff(nnz) >= 0).all()  # ordered by nnz
    for value in range(max(out, in_), out * in_ + 1):
        chosen = layer_masks(out, in_, value)
        assert {row_class(m) for m in chosen} == {c for c in brute if sum(map(sum, c)) == value}


@pytest.mark.parametrize("shape", [*SHAPES, (5, 5), (4, 5), (6, 2)])
def test_count_agrees_with_the_enumeration_for_every_nnz(shape: tuple[int, int]) -> None:
    out, in_ = shape
    assert count_layer_masks(out, in_) == len(layer_masks(out, in_))
    for value in range(max(out, in_), out * in_ + 1):
        assert count_layer_masks(out, in_, value) == len(layer_masks(out, in_, value))


def test_counts_of_big_layers_come_without_listing_them() -> None:
    assert count_layer_masks(3, 2) == 8
    assert count_layer_masks(3, 3) == 57
    big = count_layer_masks(16, 16)
    assert big > 10**30
    assert sum(count_layer_masks(16, 16, z) for z in range(16, 257)) == big
    assert count_layer_masks(16, 16, 16) == 1  # a permutation matrix, rows sorted
    assert count_layer_masks(16, 16, 256) == 1


@pytest.mark.parametrize("nnz", [2, 10, 0, -1])
def test_nnz_outside_its_range_is_a_clear_error(nnz: int) -> None:
    with pytest.raises(ValueError, match=r"outside \[3, 9\] for a 3x3 layer"):
        layer_masks(3, 3, nnz)
    with pytest.raises(ValueError, match=r"outside \[3, 9\]"):
        count_layer_masks(3, 3, nnz)


def test_zero_widths_are_errors() -> None:
    with pytest.raises(ValueError, match="at least one"):
        count_structure_masks((2, 3, 0, 3, 1))
    with pytest.raises(ValueError, match="at least one"):
        layer_masks(0, 3)


# ---- whole networks --------------------------------------------------------------------


def relabel_positions(sizes: tuple[int, ...], perms: list[np.ndarray]) -> np.ndarray:
    """Where each masked weight goes when hidden level k's neurons are relabelled perms[k]
    (level 0, the inputs, is never relabelled)."""
    moved, offset = [], 0
    for layer in range(len(sizes) - 2):
        out, in_ = sizes[layer + 1], sizes[layer]
        rows, cols = np.meshgrid(np.arange(out), np.arange(in_), indexing="ij")
        target = perms[layer + 1][rows] * in_ + perms[layer][cols]
        source = np.empty(out * in_, dtype=np.int64)
        source[target.ravel()] = offset + np.arange(out * in_)
        moved.append(source)
        offset += out * in_
    return np.concatenate(moved)


def canonical(networks: np.ndarray, sizes: tuple[int, ...]) -> np.ndarray:
    """The smallest code of each network [N, W] over all hidden-neuron relabellings."""
    weights = 1 << np.arange(networks.shape[1] - 1, -1, -1, dtype=np.int64)
    best = None
    for combo in itertools.product(*(itertools.permutations(range(d)) for d in sizes[1:-1])):
        perms = [np.arange(sizes[0]), *(np.array(p) for p in combo)]
        code = networks[:, relabel_positions(sizes, perms)].astype(np.int64) @ weights
        best = code if best is None else np.minimum(best, code)
    return best


def all_networks(sizes: tuple[int, ...]) -> np.ndarray:
    layers = [
        valid_matrices(sizes[k + 1], sizes[k]).reshape(-1, sizes[k + 1] * sizes[k])
        for k in range(len(sizes) - 2)
    ]
    grid = itertools.product(*(range(len(layer)) for layer in layers))
    index = np.array(list(grid))
    return np.concatenate([layer[index[:, k]] for k, layer in enumerate(layers)], axis=1)


def flat(mask_set) -> np.ndarray:  # type: ignore[no-untyped-def]
    batch = mask_set.batch()
    return np.concatenate([m.reshape(len(m), -1) for m in batch[:-1]], axis=1)


SMALL = [(2, 2, 2), (3, 2, 2), (2, 3, 2), (2, 2, 3), (3, 3), (2, 3, 3), (3, 3, 2), (2, 2, 2, 2)]


@pytest.mark.parametrize("hidden", SMALL)
def test_structure_enumeration_loses_no_network_and_joint_keeps_one_per_class(
    hidden: tuple[int, ...],
) -> None:
    sizes = (2, *hidden, 1)
    classes = set(canonical(all_networks(sizes), sizes).tolist())
    layer = enumerate_structure(sizes, symmetry="layer")
    joint = enumerate_structure(sizes, symmetry="joint")
    assert set(canonical(flat(layer), sizes).tolist()) == classes  # complete
    joint_classes = canonical(flat(joint), sizes).tolist()
    assert set(joint_classes) == classes and len(joint_classes) == len(classes)  # exact
    assert count_structure_masks(sizes, symmetry="layer") == len(layer)
    assert count_structure_masks(sizes, symmetry="joint") == len(joint) == len(classes)
    expected = math.prod(count_layer_masks(o, i) for i, o in itertools.pairwise(sizes[:-1]))
    assert len(layer) == expected


def test_the_papers_structure_gives_the_papers_25992_masks() -> None:
    sizes = (2, 3, 3, 3, 1)
    layer = enumerate_structure(sizes)
    assert len(layer) == 8 * 57 * 57 == 25_992 == 155_952 // 6
    joint = enumerate_structure(sizes, symmetry="joint")
    assert len(joint) == count_structure_masks(sizes, symmetry="joint") == 12_400
    layer_classes = canonical(flat(layer), sizes)
    joint_classes = canonical(flat(joint), sizes)
    assert len(set(joint_classes.tolist())) == len(joint)
    assert set(joint_classes.tolist()) == set(layer_classes.tolist())
    rng = np.random.default_rng(0)  # random networks all fall in an enumerated class
    sample = []
    for out, in_ in [(3, 2), (3, 3), (3, 3)]:
        candidates = valid_matrices(out, in_)
        sample.append(candidates[rng.integers(len(candidates), size=3000)].reshape(3000, -1))
    assert set(canonical(np.concatenate(sample, axis=1), sizes).tolist()) <= set(
        joint_classes.tolist()
    )


def test_per_layer_nnz_and_the_iterator() -> None:
    sizes = (2, 3, 3, 3, 1)
    chosen = enumerate_structure(sizes, nnz=(4, None, 6))
    assert len(chosen) == count_structure_masks(sizes, nnz=(4, None, 6))
    assert len(chosen) == count_layer_masks(3, 2, 4) * 57 * count_layer_masks(3, 3, 6)
    networks = list(structure_masks(sizes, nnz=(4, None, 6)))
    assert len(networks) == len(chosen)
    for network in networks[:50]:
        assert [m.shape for m in network] == [(3, 2), (3, 3), (3, 3), (1, 3)]
        assert network[0].sum() == 4 and network[2].sum() == 6 and network[3].all()
    for symmetry in ("layer", "joint"):
        joint = enumerate_structure(sizes, nnz=(None, 5, None), symmetry=symmetry)
        counted = count_structure_masks(sizes, nnz=(None, 5, None), symmetry=symmetry)
        assert len(joint) == counted
    with pytest.raises(ValueError, match="one entry per masked layer"):
        enumerate_structure(sizes, nnz=(4, 5))
    with pytest.raises(ValueError, match=r"outside \[3, 6\] for a 3x2 layer"):
        enumerate_structure(sizes, nnz=(7, None, None))


def test_weight_nnz_and_packing_round_trip() -> None:
    sizes = (2, 3, 2, 1)
    masks = enumerate_structure(sizes)
    ids = np.arange(len(masks))
    batch = masks.batch()
    nnz = masks.weight_nnz(ids)
    assert (nnz == sum(m.sum(axis=(1, 2)) for m in batch)).all()
    network = [m[5] for m in batch]
    bits = pack_network_mask(network)
    assert len(bits) == math.ceil((6 + 6 + 2) / 8)
    assert all(
        np.array_equal(a, b) for a, b in zip(unpack_network_mask(bits, sizes), network, strict=True)
    )


def test_the_guard_refuses_big_enumerations_before_listing() -> None:
    with pytest.raises(MaskLimitError, match="69,129,268 masks, more than the limit of"):
        enumerate_structure((2, 4, 4, 4, 1))
    with pytest.raises(MaskLimitError, match="more than the limit of 100"):
        enumerate_structure((2, 3, 3, 3, 1), max_masks=100)
    with pytest.raises(MaskLimitError):
        enumerate_structure((2, 3, 3, 3, 1), symmetry="joint", max_masks=12_399)
    assert len(enumerate_structure((2, 3, 3, 3, 1), symmetry="joint", max_masks=12_400))
