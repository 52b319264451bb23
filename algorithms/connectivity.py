"""Which kept weights do anything: input-to-output paths through the weight masks.

A weight is *effective* when it lies on at least one path from an input to the output
through kept weights: its source neuron is reachable forward from the inputs and its
target neuron reaches the output backward. Every other kept weight is *disconnected*: it
costs budget and changes nothing a path carries.

Biases do not make a neuron live. A hidden neuron with a bias but no live incoming path
outputs a constant (relu of its bias), so its outgoing weights only add a constant to the
next layer: they fold into the next layer's biases and count as disconnected here, as in
the study's analysis. A *dead* neuron is a hidden neuron on no input-output path.

Everything is computed from masks alone (never from weight values) and vectorised over
the model axis: masks[l] is bool [M, out, in].
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

import torch


@dataclass(frozen=True)
class Connectivity:
    """Per model [M]: kept weights, effective ones, disconnected ones; dead neurons per
    hidden layer [M, depth - 1]; `effective_masks` the effective weights, like the masks."""

    weight_nnz: torch.Tensor
    effective_nnz: torch.Tensor
    disconnected: torch.Tensor
    dead_neurons: torch.Tensor
    effective_masks: list[torch.Tensor]


def live_neurons(
    masks: Sequence[torch.Tensor],
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Forward- and backward-live neurons of every layer, inputs and output included.

    forward[l] [M, n_l]: reachable from some input through kept weights (every input is);
    backward[l] [M, n_l]: reaches the output through kept weights (the output does).
    """
    bool_masks = [m.bool() for m in masks]
    size = bool_masks[0].shape[0]
    device = bool_masks[0].device
    forward = [torch.ones(size, bool_masks[0].shape[2], dtype=torch.bool, device=device)]
    for mask in bool_masks:
        forward.append((mask & forward[-1].unsqueeze(1)).any(dim=2))
    backward = [torch.ones(size, bool_masks[-1].shape[1], dtype=torch.bool, device=device)]
    for mask in reversed(bool_masks):
        backward.insert(0, (mask & backward[0].unsqueeze(2)).any(dim=1))
    return forward, backward


def connectivity(masks: Sequence[torch.Tensor]) -> Connectivity:
    """Effective weights, disconnected weights and dead hidden neurons of M models.

    In a population padded to a common width, padding neurons count as dead: subtract
    them when models of different widths share the tensors.
    """
    forward, backward = live_neurons(masks)
    effective = [
        m.bool() & forward[layer].unsqueeze(1) & backward[layer + 1].unsqueeze(2)
        for layer, m in enumerate(masks)
    ]
    weight_nnz = sum(m.bool().flatten(1).sum(1) for m in masks)
    effective_nnz = sum(e.flatten(1).sum(1) for e in effective)
    hidden = range(1, len(masks))
    dead = torch.stack([(~(forward[h] & backward[h])).sum(1) for h in hidden], dim=1)
    return Connectivity(
        weight_nnz=weight_nnz,
        effective_nnz=effective_nnz,
        disconnected=weight_nnz - effective_nnz,
        dead_neurons=dead,
        effective_masks=effective,
    )


def path_minimum(layer_sizes: Sequence[int]) -> int:
    """The fewest weights that keep any input-output path: one per weight matrix."""
    return len(layer_sizes) - 1


def total_weights(layer_sizes: Sequence[int]) -> int:
    return sum(i * o for i, o in pairwise(layer_sizes))


def check_targets(kept: torch.Tensor, target_nnz: torch.Tensor, depth: int) -> torch.Tensor:
    """`target_nnz` as int64 [M] on `kept`'s device, or ValueError when a target exceeds
    the weights kept now (`kept` [M]) or is below `depth` (no input-output path left)."""
    target = torch.as_tensor(target_nnz, dtype=torch.int64).to(kept.device)
    if target.shape != kept.shape:
        raise ValueError(
            f"need one target per model: {tuple(kept.shape)}, got {tuple(target.shape)}"
        )
    if bool((target > kept).any()):
        m = int((target > kept).nonzero()[0])
        raise ValueError(
            f"target weight nnz {int(target[m])} exceeds the {int(kept[m])} kept weights"
        )
    if bool((target < depth).any()):
        raise ValueError(
            f"target weight nnz {int(target.min())} is below {depth}, "
            "the fewest weights that keep an input-output path"
        )
    return target
