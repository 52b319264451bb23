"""The forward pass of a population of ReLU MLPs: the one copy every caller shares
(the training engines, the population's evaluation, the session's gradients and the
pruning methods' scores), so they all compute the same numbers bit for bit.

Every tensor's first axis is the model: weights[l] [M, out, in], biases[l] [M, out].
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def mlp_forward(
    weights: Sequence[torch.Tensor],
    biases: Sequence[torch.Tensor],
    x: torch.Tensor,
    activations: list[torch.Tensor] | None = None,
) -> torch.Tensor:
    """Logits [M, B] of the ReLU MLPs (weights, biases) on x [M, B, in] or [B, in]
    (the same points for every model).

    Each layer is baddbmm(b, h, wᵀ), then ReLU on every layer but the last. With
    `activations`, appends each layer's input to it: x (as [M, B, in] in the weights'
    dtype), then every hidden layer's output after its ReLU, which is what a hand-written
    backward pass needs.
    """
    h = x.to(weights[0].dtype)
    if h.dim() == 2:
        h = h.unsqueeze(0).expand(weights[0].shape[0], -1, -1)
    last = len(weights) - 1
    for layer, (w, b) in enumerate(zip(weights, biases, strict=True)):
        if activations is not None:
            activations.append(h)
        h = torch.baddbmm(b.unsqueeze(1), h, w.transpose(1, 2))
        if layer < last:
            h = torch.relu(h)
    return h.squeeze(-1)
