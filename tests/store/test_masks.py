"""Masks pack 8 bits to a byte, layer by layer; weights as float32; both round-trip."""

from __future__ import annotations

import numpy as np
import pytest

from store.masks import (
    pack_mask,
    pack_masks,
    pack_weights,
    unpack_mask,
    unpack_masks,
    unpack_weights,
    weight_shapes,
)


def test_weight_shapes_of_the_mlp() -> None:
    assert weight_shapes((5, 4, 3)) == [(5, 2), (4, 5), (3, 4), (1, 3)]


def test_a_mask_round_trips() -> None:
    rng = np.random.default_rng(0)
    bits = rng.random((5, 7)) < 0.4
    data = pack_mask(bits)
    assert len(data) == 5  # 35 bits
    assert np.array_equal(unpack_mask(data, (5, 7)), bits)
    assert pack_mask(np.array([1, 0, 0, 0, 0, 0, 0, 1, 1])) == b"\x81\x80"
    with pytest.raises(ValueError, match="packs to 5 bytes"):
        unpack_mask(data + b"\x00", (5, 7))


def test_layer_masks_and_weights_round_trip() -> None:
    rng = np.random.default_rng(1)
    shapes = weight_shapes((3, 3, 2))
    masks = [rng.random(shape) < 0.5 for shape in shapes]
    back = unpack_masks(pack_masks(masks), shapes)
    assert all(np.array_equal(a, b) for a, b in zip(masks, back, strict=True))
    weights = [rng.standard_normal(shape).astype(np.float32) for shape in shapes]
    data = pack_weights(weights)
    assert len(data) == 4 * sum(w.size for w in weights)
    back_w = unpack_weights(data, shapes)
    assert all(
        np.array_equal(a, b) and b.dtype == np.float32 for a, b in zip(weights, back_w, strict=True)
    )
    with pytest.raises(ValueError, match="bytes"):
        unpack_weights(data[:-4], shapes)
