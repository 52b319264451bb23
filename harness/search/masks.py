"""Phase-2 mask enumeration (PAPER.md, "The combinatorial search"): every sparse network
of a structure, one per class of networks equal up to relabelling hidden neurons.

A structure is the full layer sizes, e.g. (2, 3, 3, 3, 1). Its masked matrices are the
weights into each hidden layer, matrix l of shape (out, in) = (sizes[l+1], sizes[l]);
the output matrix stays dense. A valid layer mask has no all-zero row or column, so nnz
lies in [max(in, out), in*out]. A row is held as an integer pattern (column 0 the most
significant bit), so a layer mask up to a permutation of its rows is a multiset of
`out` nonzero patterns, stored sorted ascending: its canonical form.

What is enumerated, and why no network is lost
----------------------------------------------
Relabelling the neurons of hidden level k permutes the rows of matrix k-1 and the
columns of matrix k together, so the classes are orbits of S_d1 x ... x S_dL acting on
whole networks, not on one matrix at a time.

`symmetry="layer"` (the paper's, and the default) takes the product of the per-layer
row-canonical sets C_l. It is complete: from any network, sort the rows of matrix 0 (a
relabelling of level 1, which also permutes matrix 1's columns); then sort matrix 1's
rows (level 2), and so on. Each step leaves the already sorted matrices sorted and keeps
every matrix free of zero rows and columns, so the result lies in C_0 x ... x C_{L-1}.
It is not minimal: when matrix l has equal rows, relabelling those neurons permutes the
columns of matrix l+1 and can map one product element onto another. On (3, 3, 3) it
gives 8 x 57 x 57 = 25,992 masks, the paper's count (155,952 trainings / 6).

`symmetry="joint"` keeps exactly one network per orbit, by orderly generation: matrix 0
ranges over C_0; the stabiliser of the prefix, projected on the next level, acts on the
next matrix's columns, and a row-sorted matrix is kept only if it is the smallest of its
images under that group. Orbits of G on A x B are the orbits of Stab(a) on B for one a
per orbit of A, so this is one representative per class. Tests compare both modes with
a brute-force canonicalisation of all networks on small structures.

Counts are combinatorial (inclusion-exclusion over uncovered columns of multisets of row
patterns; for the joint mode, Burnside's lemma over the last layer), never by listing.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Literal

import numpy as np

from store.masks import pack_masks, unpack_masks

Symmetry = Literal["layer", "joint"]
SYMMETRIES: tuple[str, ...] = ("layer", "joint")
DEFAULT_MAX_MASKS = 10_000_000
_MAX_CANDIDATES = 50_000_000


class MaskLimitError(ValueError):
    """An enumeration larger than the caller's guard."""


def check_layer_nnz(out: int, in_: int, nnz: int | None) -> None:
    if out < 1 or in_ < 1:
        raise ValueError(f"a layer needs at least one row and one column, got {out}x{in_}")
    if nnz is not None and not max(in_, out) <= nnz <= in_ * out:
        raise ValueError(
            f"nnz {nnz} is outside [{max(in_, out)}, {in_ * out}] for a {out}x{in_} layer "
            "(every row and every column needs a weight)"
        )


def check_structure(layer_sizes: Sequence[int]) -> tuple[int, ...]:
    sizes = tuple(int(s) for s in layer_sizes)
    if len(sizes) < 3:
        raise ValueError(f"a structure needs input, hidden and output sizes, got {sizes}")
    if any(s < 1 for s in sizes):
        raise ValueError(f"every layer needs at least one neuron, got {sizes}")
    return sizes


# ---- one layer -------------------------------------------------------------------------


def _popcount(patterns: np.ndarray) -> np.ndarray:
    x = np.asarray(patterns, dtype=np.int64)
    count = np.zeros(x.shape, dtype=np.int64)
    while x.any():
        count += x & 1
        x = x >> 1
    return count


def _layer_patterns(out: int, in_: int, nnz: int | None = None) -> np.ndarray:
    """Canonical layer masks as sorted row patterns, int64 [K, out], by (nnz, rows)."""
    check_layer_nnz(out, in_, nnz)
    top = (1 << in_) - 1
    if math.comb(top + out - 1, out) > _MAX_CANDIDATES:
        raise MaskLimitError(f"a {out}x{in_} layer has too many candidate masks to list")
    rows = np.arange(1, top + 1, dtype=np.int64)[:, None]
    for _ in range(out - 1):
        last = rows[:, -1]
        counts = top - last + 1
        starts = np.repeat(np.cumsum(counts) - counts, counts)
        following = np.repeat(last, counts) + np.arange(int(counts.sum())) - starts
        rows = np.column_stack([np.repeat(rows, counts, axis=0), following])
    covered = np.bitwise_or.reduce(rows, axis=1) == top
    weights = _popcount(rows).sum(axis=1)
    keep = covered if nnz is None else covered & (weights == nnz)
    rows, weights = rows[keep], weights[keep]
    order = np.lexsort([*rows.T[::-1], weights])
    return rows[order]


def _to_masks(patterns: np.ndarray, in_: int) -> np.ndarray:
    shifts = np.arange(in_ - 1, -1, -1, dtype=np.int64)
    return ((patterns[..., None] >> shifts) & 1).astype(bool)


def layer_masks(out: int, in_: int, nnz: int | None = None) -> np.ndarray:
    """One mask per row-permutation class: bool [K, out, in], rows sorted, by nnz.

    nnz: only masks with that many weights (None: every nnz in [max(in,out), in*out])."""
    return _to_masks(_layer_patterns(out, in_, nnz), in_)


@cache
def _multisets_by_size_and_weight(columns: int, rows: int) -> tuple[tuple[int, ...], ...]:
    """table[r][z]: multisets of r nonzero row patterns over `columns` columns whose
    popcounts sum to z (no covering condition)."""
    top = rows * columns
    table = [[0] * (top + 1) for _ in range(rows + 1)]
    table[0][0] = 1
    for k in range(1, columns + 1):
        kinds = math.comb(columns, k)
        new = [[0] * (top + 1) for _ in range(rows + 1)]
        for r in range(rows + 1):
            for z in range(top + 1):
                if table[r][z]:
                    for s in range(rows - r + 1):
                        if z + s * k > top:
                            break
                        new[r + s][z + s * k] += table[r][z] * math.comb(kinds + s - 1, s)
        table = new
    return tuple(tuple(row) for row in table)


def count_layer_masks(out: int, in_: int, nnz: int | None = None) -> int:
    """len(layer_masks(out, in_, nnz)) by inclusion-exclusion over the uncovered columns."""
    check_layer_nnz(out, in_, nnz)
    total = 0
    for missing in range(in_ + 1):
        table = _multisets_by_size_and_weight(in_ - missing, out)[out]
        ways = sum(table) if nnz is None else (table[nnz] if nnz < len(table) else 0)
        total += (-1) ** missing * math.comb(in_, missing) * ways
    return total


# ---- joint symmetry --------------------------------------------------------------------


def _pattern_maps(perms: np.ndarray, columns: int) -> np.ndarray:
    """[H, 2**columns]: the pattern each pattern becomes when column j is relabelled
    perms[h, j]."""
    patterns = np.arange(1 << columns, dtype=np.int64)
    out = np.zeros((len(perms), 1 << columns), dtype=np.int64)
    for j in range(columns):
        bit = (patterns >> (columns - 1 - j)) & 1
        out |= bit[None, :] << (columns - 1 - perms[:, j])[:, None]
    return out


def _smallest_in_orbit(reps: np.ndarray, maps: np.ndarray) -> np.ndarray:
    """bool [K]: is each row-sorted rep [K, rows] the lexicographic minimum of its images
    under the column relabellings `maps` (rows re-sorted)?"""
    keep = np.ones(len(reps), dtype=bool)
    for pattern_map in maps:
        image = np.sort(pattern_map[reps], axis=1)
        differ = image != reps
        first = differ.argmax(axis=1)
        at = np.arange(len(reps))
        smaller = differ.any(axis=1) & (image[at, first] < reps[at, first])
        keep &= ~smaller
    return keep


def _row_stabilised_relabellings(rep: np.ndarray, image: np.ndarray) -> list[tuple[int, ...]]:
    """Every row relabelling rho with rep[rho[i]] == image[i] for all i."""
    base = np.empty(len(rep), dtype=np.int64)
    base[np.argsort(image, kind="stable")] = np.arange(len(rep))
    blocks = [np.flatnonzero(rep == value) for value in np.unique(rep)]
    result = []
    for shuffles in itertools.product(*(itertools.permutations(b) for b in blocks)):
        within = np.arange(len(rep))
        for block, shuffled in zip(blocks, shuffles, strict=True):
            within[block] = shuffled
        result.append(tuple(int(v) for v in within[base]))
    return result


def _next_group(rep: np.ndarray, maps: np.ndarray) -> np.ndarray:
    """The stabiliser of the prefix ending in `rep`, projected on the rows' level."""
    group: set[tuple[int, ...]] = set()
    for pattern_map in maps:
        image = pattern_map[rep]
        if np.array_equal(np.sort(image), rep):
            group.update(_row_stabilised_relabellings(rep, image))
    return np.array(sorted(group), dtype=np.int64)


def _joint_index(patterns: Sequence[np.ndarray], sizes: tuple[int, ...]) -> np.ndarray:
    """[N, L] indices into the per-layer canonical sets: one network per orbit."""
    depth = len(patterns)
    identity = np.arange(sizes[0], dtype=np.int64)[None, :]
    frontier: list[tuple[tuple[int, ...], np.ndarray]] = [((), identity)]
    for layer in range(depth):
        reps = patterns[layer]
        kept_cache: dict[bytes, np.ndarray] = {}
        grown: list[tuple[tuple[int, ...], np.ndarray]] = []
        for prefix, group in frontier:
            key = group.tobytes()
            if key not in kept_cache:
                maps = _pattern_maps(group, sizes[layer])
                kept_cache[key] = np.flatnonzero(_smallest_in_orbit(reps, maps))
            kept = kept_cache[key]
            if layer == depth - 1:
                grown.extend(((*prefix, int(k)), group) for k in kept)
                continue
            maps = _pattern_maps(group, sizes[layer])
            for k in kept:
                grown.append(((*prefix, int(k)), _next_group(reps[k], maps)))
        frontier = grown
    return np.array([prefix for prefix, _ in frontier], dtype=np.int64).reshape(-1, depth)


def _invariant_count(columns: int, rows: int, perm: np.ndarray, nnz: int | None) -> int:
    """Row-sorted masks (rows x columns, no zero row or column, given nnz) that a column
    relabelling `perm` maps to themselves: multisets constant on the pattern orbits."""
    pattern_map = _pattern_maps(perm[None, :], columns)[0]
    seen = np.zeros(1 << columns, dtype=bool)
    orbits = []  # (length, popcount, union of columns)
    for start in range(1, 1 << columns):
        if seen[start]:
            continue
        length, union, p = 0, 0, start
        while not seen[p]:
            seen[p] = True
            union |= int(p)
            length += 1
            p = pattern_map[p]
        orbits.append((length, bin(start).count("1"), union))
    total = 0
    for excluded in range(1 << columns):
        table = {(0, 0): 1}
        for length, weight, union in orbits:
            if union & excluded:
                continue
            new = dict(table)
            for (r, z), ways in table.items():
                m = 1
                while r + m * length <= rows:
                    state = (r + m * length, z + m * length * weight)
                    new[state] = new.get(state, 0) + ways
                    m += 1
            table = new
        ways = sum(w for (r, z), w in table.items() if r == rows and (nnz is None or z == nnz))
        total += (-1) ** bin(excluded).count("1") * ways
    return total


# ---- whole structures ------------------------------------------------------------------


def _layer_nnz(sizes: tuple[int, ...], nnz: Sequence[int | None] | None) -> list[int | None]:
    depth = len(sizes) - 2
    chosen = list(nnz) if nnz is not None else [None] * depth
    if len(chosen) != depth:
        raise ValueError(f"nnz needs one entry per masked layer ({depth}), got {len(chosen)}")
    for layer, value in enumerate(chosen):
        check_layer_nnz(sizes[layer + 1], sizes[layer], value)
    return chosen


@dataclass(frozen=True)
class MaskSet:
    """Every network mask of a structure: per masked layer its canonical set
    (`layers[l]`, bool [K_l, out, in]) and which combination each network takes
    (`index` [N, L]; None: the full product, in row-major order)."""

    layer_sizes: tuple[int, ...]
    layers: tuple[np.ndarray, ...]
    index: np.ndarray | None = None

    def __len__(self) -> int:
        if self.index is not None:
            return len(self.index)
        return math.prod(len(layer) for layer in self.layers)

    def indices(self, ids: np.ndarray) -> np.ndarray:
        """[n, L]: which canonical layer mask each of the networks `ids` takes."""
        ids = np.asarray(ids, dtype=np.int64)
        if self.index is not None:
            return self.index[ids]
        shape = tuple(len(layer) for layer in self.layers)
        return np.stack(np.unravel_index(ids, shape), axis=1).reshape(-1, len(shape))

    def take(self, ids: np.ndarray) -> list[np.ndarray]:
        """The networks `ids`: bool [n, out, in] per layer, the dense output last."""
        index = self.indices(ids)
        out = [layer[index[:, k]] for k, layer in enumerate(self.layers)]
        out.append(np.ones((len(index), self.layer_sizes[-1], self.layer_sizes[-2]), bool))
        return out

    def batch(self, start: int = 0, stop: int | None = None) -> list[np.ndarray]:
        """Networks start..stop-1, as `take`."""
        stop = len(self) if stop is None else min(stop, len(self))
        return self.take(np.arange(start, stop, dtype=np.int64))

    def weight_nnz(self, ids: np.ndarray) -> np.ndarray:
        """Weights of each network `ids`, the dense output layer included."""
        index = self.indices(ids)
        per_layer = [layer.sum(axis=(1, 2))[index[:, k]] for k, layer in enumerate(self.layers)]
        return sum(per_layer) + self.layer_sizes[-1] * self.layer_sizes[-2]

    def __iter__(self) -> Iterator[tuple[np.ndarray, ...]]:
        for start in range(0, len(self), 4096):
            batch = self.batch(start, start + 4096)
            for k in range(len(batch[0])):
                yield tuple(layer[k] for layer in batch)


def count_structure_masks(
    layer_sizes: Sequence[int],
    nnz: Sequence[int | None] | None = None,
    symmetry: Symmetry = "layer",
    max_masks: int | None = None,
) -> int:
    """len(enumerate_structure(...)) without listing the networks. `max_masks` bounds the
    work of the joint count, which lists the prefix (all masked layers but the last)."""
    sizes = check_structure(layer_sizes)
    chosen = _layer_nnz(sizes, nnz)
    counts = [count_layer_masks(sizes[k + 1], sizes[k], value) for k, value in enumerate(chosen)]
    if symmetry == "layer":
        return math.prod(counts)
    if symmetry != "joint":
        raise ValueError(f"unknown symmetry {symmetry!r}; choose layer or joint")
    prefix = (*sizes[:-2], 1)
    if len(prefix) < 3:
        groups = [np.arange(sizes[0], dtype=np.int64)[None, :]]
    else:
        _guard(math.prod(counts[:-1]), max_masks, sizes, "the joint count's prefix has")
        groups = _prefix_groups(sizes, chosen)
    rows, columns = sizes[-2], sizes[-3]
    total = 0
    for group in groups:
        burnside = sum(_invariant_count(columns, rows, perm, chosen[-1]) for perm in group)
        total += burnside // len(group)
    return total


def _prefix_groups(sizes: tuple[int, ...], chosen: list[int | None]) -> list[np.ndarray]:
    """For each joint representative of all masked layers but the last, the group that
    acts on the last masked layer's columns."""
    patterns = [_layer_patterns(sizes[k + 1], sizes[k], v) for k, v in enumerate(chosen[:-1])]
    index = _joint_index(patterns, (*sizes[:-1], 1))
    groups = []
    for row in index:
        group = np.arange(sizes[0], dtype=np.int64)[None, :]
        for layer, k in enumerate(row):
            maps = _pattern_maps(group, sizes[layer])
            group = _next_group(patterns[layer][k], maps)
        groups.append(group)
    return groups


def _guard(count: int, max_masks: int | None, sizes: tuple[int, ...], what: str) -> None:
    if max_masks is not None and count > max_masks:
        hidden = ",".join(str(s) for s in sizes[1:-1])
        raise MaskLimitError(
            f"structure {hidden}: {what} {count:,} masks, more than the limit of "
            f"{max_masks:,} (raise --max-masks or pick a smaller structure)"
        )


def enumerate_structure(
    layer_sizes: Sequence[int],
    nnz: Sequence[int | None] | None = None,
    symmetry: Symmetry = "layer",
    max_masks: int | None = DEFAULT_MAX_MASKS,
) -> MaskSet:
    """Every network mask of `layer_sizes` (e.g. (2, 3, 3, 3, 1)), see the module
    docstring. nnz: per masked layer, a weight count or None for all. Raises
    MaskLimitError, before listing anything big, when there are over `max_masks`."""
    sizes = check_structure(layer_sizes)
    chosen = _layer_nnz(sizes, nnz)
    if symmetry not in SYMMETRIES:
        raise ValueError(f"unknown symmetry {symmetry!r}; choose layer or joint")
    layer_count = count_structure_masks(sizes, chosen, "layer")
    if symmetry == "layer":
        _guard(layer_count, max_masks, sizes, "the product of canonical layers has")
    else:
        _guard(count_structure_masks(sizes, chosen, "joint", max_masks), max_masks, sizes, "has")
    patterns = [_layer_patterns(sizes[k + 1], sizes[k], v) for k, v in enumerate(chosen)]
    layers = tuple(_to_masks(p, sizes[k]) for k, p in enumerate(patterns))
    if symmetry == "layer":
        return MaskSet(sizes, layers)
    return MaskSet(sizes, layers, _joint_index(patterns, sizes))


def structure_masks(
    layer_sizes: Sequence[int],
    nnz: Sequence[int | None] | None = None,
    symmetry: Symmetry = "layer",
    max_masks: int | None = DEFAULT_MAX_MASKS,
) -> Iterator[tuple[np.ndarray, ...]]:
    """Each network mask as a tuple of bool [out, in] per layer, the dense output last."""
    return iter(enumerate_structure(layer_sizes, nnz, symmetry, max_masks))


def pack_network_mask(layers: Sequence[np.ndarray]) -> bytes:
    """Every weight bit, layer by layer, row-major (RunRecord.mask; store.masks' layout)."""
    return pack_masks(layers)


def unpack_network_mask(bits: bytes, layer_sizes: Sequence[int]) -> list[np.ndarray]:
    sizes = check_structure(layer_sizes)
    return unpack_masks(bits, [(o, i) for i, o in itertools.pairwise(sizes)])
