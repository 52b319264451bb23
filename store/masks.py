"""Packing masks and weights into the `masks` table's BLOBs, and back.

A mask is the 0/1 of every weight, layer by layer, each layer row-major (out x in),
packed 8 to a byte by numpy.packbits (first weight in the high bit, the last byte
zero-padded). Weights are float32, little-endian, in the order the caller packs them
(the harness: each layer's weight matrix, then its bias).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def weight_shapes(
    widths: Sequence[int], inputs: int = 2, outputs: int = 1
) -> list[tuple[int, int]]:
    """(out, in) of each weight matrix of the MLP inputs -> widths... -> outputs."""
    sizes = [inputs, *widths, outputs]
    return [(sizes[i + 1], sizes[i]) for i in range(len(sizes) - 1)]


def pack_mask(bits: np.ndarray) -> bytes:
    """One 0/1 (or bool) array, row-major, packed 8 bits to a byte."""
    return np.packbits(np.asarray(bits, dtype=bool).ravel()).tobytes()


def unpack_mask(data: bytes, shape: Sequence[int]) -> np.ndarray:
    """The bool array of `shape` that pack_mask packed into `data`."""
    count = math.prod(shape)
    if len(data) != (count + 7) // 8:
        raise ValueError(
            f"a mask of shape {tuple(shape)} packs to {(count + 7) // 8} bytes, got {len(data)}"
        )
    bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8), count=count)
    return bits.astype(bool).reshape(tuple(shape))


def pack_masks(layers: Sequence[np.ndarray]) -> bytes:
    """Several layers' masks, concatenated in order, packed together (RunRecord.mask)."""
    if not layers:
        return b""
    return pack_mask(np.concatenate([np.asarray(m, dtype=bool).ravel() for m in layers]))


def unpack_masks(data: bytes, shapes: Sequence[Sequence[int]]) -> list[np.ndarray]:
    """Split what pack_masks packed back into one bool array per shape."""
    flat = unpack_mask(data, (sum(math.prod(s) for s in shapes),))
    return _split(flat, shapes)


def pack_weights(arrays: Sequence[np.ndarray]) -> bytes:
    """Arrays as float32 little-endian, concatenated in order (RunRecord.weights)."""
    if not arrays:
        return b""
    return np.concatenate([np.asarray(a, dtype="<f4").ravel() for a in arrays]).tobytes()


def unpack_weights(data: bytes, shapes: Sequence[Sequence[int]]) -> list[np.ndarray]:
    """Split what pack_weights packed back into one float32 array per shape."""
    count = sum(math.prod(s) for s in shapes)
    if len(data) != 4 * count:
        raise ValueError(f"weights of {count} floats take {4 * count} bytes, got {len(data)}")
    flat = np.frombuffer(data, dtype="<f4").astype(np.float32)
    return _split(flat, shapes)


def _split(flat: np.ndarray, shapes: Sequence[Sequence[int]]) -> list[np.ndarray]:
    out, start = [], 0
    for shape in shapes:
        size = math.prod(shape)
        out.append(flat[start : start + size].reshape(tuple(shape)))
        start += size
    return out
