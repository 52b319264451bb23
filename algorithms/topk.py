"""Scores to masks: exact top-k, global (across all weight matrices) or per layer.

Every pruned model must end with exactly the requested number of weights. Sorting with a
stable sort and keeping the first k ranks does that, ties going to the lower flat index
(layer by layer, row-major). The common "keep |w| > k-th value" threshold would drop
every tied weight at the boundary and can miss the budget.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def _flatten(tensors: Sequence[torch.Tensor]) -> torch.Tensor:
    return torch.cat([t.flatten(1) for t in tensors], dim=1)


def _unflatten(flat: torch.Tensor, like: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    out, start = [], 0
    for t in like:
        size = t[0].numel()
        out.append(flat[:, start : start + size].reshape(t.shape))
        start += size
    return out


def keep_top(scores: torch.Tensor, k: torch.Tensor, eligible: torch.Tensor | None) -> torch.Tensor:
    """Bool mask [M, P] keeping exactly min(k[m], P) entries of each row: the highest
    scores among `eligible` ones first (NaN counts as lowest), ties to lower index."""
    lowest = torch.finfo(torch.float64).min
    s = torch.nan_to_num(scores.double(), nan=lowest, neginf=lowest)
    if eligible is not None:
        # Eligible scores are finite or +inf, so -inf ranks every ineligible entry last.
        s = torch.where(eligible, s, torch.full_like(s, -torch.inf))
    order = torch.argsort(s, dim=1, descending=True, stable=True)
    rank = torch.empty_like(order)
    rank.scatter_(1, order, torch.arange(order.shape[1], device=order.device).expand_as(order))
    return rank < k.to(order.device).view(-1, 1)


def global_topk(
    scores: Sequence[torch.Tensor],
    k: torch.Tensor,
    eligible: Sequence[torch.Tensor] | None = None,
) -> list[torch.Tensor]:
    """Per model, keep the k[m] highest scores across all layers (one global threshold).

    scores: per layer [M, out, in]; k: [M] int; eligible: bool masks alike (e.g. the
    current masks, so pruned weights are never revived). Returns bool masks alike.
    """
    flat_eligible = _flatten(eligible).bool() if eligible is not None else None
    return _unflatten(keep_top(_flatten(scores), k, flat_eligible), scores)


def layer_topk(
    scores: Sequence[torch.Tensor],
    k_per_layer: torch.Tensor,
    eligible: Sequence[torch.Tensor] | None = None,
) -> list[torch.Tensor]:
    """Per model and layer l, keep the k_per_layer[m, l] highest scores of layer l."""
    return [
        keep_top(
            s.flatten(1),
            k_per_layer[:, layer],
            eligible[layer].flatten(1).bool() if eligible is not None else None,
        ).reshape(s.shape)
        for layer, s in enumerate(scores)
    ]
