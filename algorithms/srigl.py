"""SRigL: RigL under a constant fan-in per neuron, with neuron ablation.

Lasby, Golubeva, Evci, Nica & Ioannou, "Dynamic Sparse Training with Structured
Sparsity" (ICLR 2024, arXiv 2305.02299). Dynamic sparse training as RigL
(algorithms.rigl: ERK layer counts, drop by magnitude, regrow by gradient, a cosine-decayed
drop fraction every `update_interval` steps until `end_fraction` of training) with every
active neuron of a layer keeping the same number of incoming weights:

- Fan-in: a layer's count c is shared by its active neurons as evenly as their allowed
  inputs permit: k or k + 1 each (c = k n + r exactly; the r extra weights go to the
  most salient neurons, ties to the lower index; a neuron with fewer allowed inputs is
  filled and the rest share its remainder). The paper's fan-in is exactly constant; the
  +1 is what makes the budget exact.
- Initial mask: that fan-in per neuron, each neuron's inputs drawn uniformly at random.
- Update, per layer: as RigL, the n - d largest |w| of the n active weights survive and
  the d largest |grad| of the others would be regrown (d = floor(f(t) n)); a neuron's
  *salient* weights are its survivors and would-be regrown ones. A hidden neuron with
  fewer than `salience_threshold` x its fan-in salient weights is ablated (all its
  incoming weights removed, the most salient neuron always kept) and its budget goes to
  the others by the fan-in rule. Each neuron keeps its largest survivors up to its new
  fan-in and regrows the rest by |grad| among its inactive inputs (just-dropped ones
  included). Regrown connections start at zero with zero momentum, as in RigL. Ablated
  neurons return only if the others cannot hold the layer's count. Output neurons are
  never ablated.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import torch

from algorithms.base import Draw, HyperParameters, PopulationLike, Session, TrainStateLike
from algorithms.connectivity import check_targets
from algorithms.magnitude_after import commit_masks
from algorithms.rigl import RigLParams, RigLUpdates, drop_fraction_at, erk_counts
from algorithms.topk import keep_top


@dataclass(frozen=True)
class SRigLParams(RigLParams):
    salience_threshold: float = field(
        default=0.3,
        metadata={
            "help": "Ablate a hidden neuron with fewer salient weights than this fraction "
            "of its fan-in (gamma_sal); 0: never."
        },
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0.0 <= self.salience_threshold <= 1.0:
            raise ValueError("salience_threshold must be in [0, 1]")


def fan_in_quotas(
    total: torch.Tensor, caps: torch.Tensor, alive: torch.Tensor, priority: torch.Tensor
) -> torch.Tensor:
    """[M, R] fan-ins of one layer summing to total[M]: rows outside `alive` get none; the
    alive rows k or k + 1 each (water-filling under their caps [M, R]), the +1 going to
    the highest `priority` first (ties to the lower row). Needs total <= alive capacity."""
    cap = torch.where(alive, caps, torch.zeros_like(caps)).to(torch.int64)
    levels = torch.arange(int(cap.max()) + 1 if cap.numel() else 1, device=cap.device)
    filled = torch.minimum(cap.unsqueeze(2), levels).sum(1)  # [M, Q]: sum_r min(cap_r, q)
    q = (filled <= total.view(-1, 1)).sum(1) - 1  # largest level that fits
    base = torch.minimum(cap, q.view(-1, 1))
    extra = keep_top(priority.double(), total - base.sum(1), eligible=cap > q.view(-1, 1))
    return base + extra.to(torch.int64)


def _rows(t: torch.Tensor) -> torch.Tensor:
    return t.reshape(-1, t.shape[-1])


def srigl_layer_update(
    w: torch.Tensor,
    mask: torch.Tensor,
    grad: torch.Tensor,
    allowed: torch.Tensor,
    fraction: float,
    threshold: float,
    ablate: bool,
) -> torch.Tensor:
    """One SRigL update of one layer of M models ([M, out, in]): the new mask."""
    rows = mask.shape[1]
    active = mask.flatten(1).bool()
    n_active = active.sum(1)
    n_drop = torch.floor(n_active.to(torch.float64) * fraction).to(torch.int64)
    survive = keep_top(w.detach().abs().flatten(1), n_active - n_drop, eligible=active)
    regrow = keep_top(
        grad.detach().abs().flatten(1), n_drop, eligible=allowed.flatten(1) & ~survive
    )
    salient = (survive | regrow).reshape(mask.shape).sum(2)  # [M, out]
    fan_in = mask.sum(2)
    alive = fan_in > 0
    index = torch.arange(rows, device=mask.device)
    # Priority: salient count, ties to the lower row (scores exact in float64).
    priority = salient.double() * (rows + 1) - index.double() / (rows + 1)
    if ablate:
        keep = salient.double() >= threshold * fan_in.double()
        best = keep_top(torch.where(alive, priority, -torch.inf), torch.ones_like(n_active), None)
        alive = alive & (keep | best)
    caps = allowed.sum(2)
    # If the alive rows cannot hold the count, the most salient others return.
    order = torch.argsort(
        torch.where(alive, torch.inf, priority), dim=1, descending=True, stable=True
    )
    held = torch.gather(caps, 1, order).cumsum(1) - torch.gather(caps, 1, order)
    joins = torch.zeros_like(alive).scatter(1, order, held < n_active.view(-1, 1))
    alive = alive | joins
    quotas = fan_in_quotas(n_active, caps, alive, priority)  # [M, out]
    survive = survive.reshape(mask.shape)
    own = torch.minimum(quotas, survive.sum(2))
    kept = keep_top(_rows(w.detach().abs()), own.flatten(), _rows(survive))
    grown = keep_top(_rows(grad.detach().abs()), (quotas - own).flatten(), _rows(allowed) & ~kept)
    return (kept | grown).reshape(mask.shape)


class SRigLUpdates(RigLUpdates):
    """SRigL's drop/grow updates of one training run (RigL's schedule and batches)."""

    def __init__(self, params: SRigLParams, allowed: Sequence[torch.Tensor]) -> None:
        super().__init__(params)
        self.srigl = params
        self.allowed = allowed

    def on_event(self, state: TrainStateLike, session: Session) -> None:
        population = state.population
        fraction = drop_fraction_at(state.step, self.end_step, self.params.drop_fraction)
        x, y = self._batch(session, state.step // self.params.update_interval - 1)
        grads, _, _ = session.gradients(x, y, population)
        bias_before = population.bias_masks
        last = len(population.weights) - 1
        masks = []
        for layer, (w, mask, grad, allowed) in enumerate(
            zip(population.weights, population.weight_masks, grads, self.allowed, strict=True)
        ):
            ablate = self.srigl.salience_threshold > 0 and layer < last
            new = srigl_layer_update(
                w, mask, grad, allowed, fraction, self.srigl.salience_threshold, ablate
            )
            grown = new & ~mask.bool()
            w.masked_fill_(grown, 0.0)
            state.weight_momentum[layer].masked_fill_(grown, 0.0)
            masks.append(new)
        commit_masks(population, masks)
        for before, after, momentum in zip(
            bias_before, population.bias_masks, state.bias_momentum, strict=True
        ):
            momentum.masked_fill_(after & ~before, 0.0)


def constant_fan_in_masks(
    population: PopulationLike, target: torch.Tensor, draw: Draw
) -> list[torch.Tensor]:
    """ERK layer counts, spread over each layer's neurons by the fan-in rule (the +1 to
    the lower rows), each neuron's inputs uniformly at random among its allowed ones
    (scores from `draw`, one call per layer in layer order)."""
    shapes = [(int(w.shape[1]), int(w.shape[2])) for w in population.weights]
    capacity = torch.stack([m.flatten(1).sum(1) for m in population.weight_masks], dim=1)
    counts = erk_counts(shapes, capacity, target)
    masks = []
    for layer, (w, allowed) in enumerate(
        zip(population.weights, population.weight_masks, strict=True)
    ):
        rows = w.shape[1]
        caps = allowed.sum(2)
        priority = -torch.arange(rows, device=w.device, dtype=torch.float64).expand(caps.shape)
        quotas = fan_in_quotas(counts[:, layer], caps, caps > 0, priority)
        scores = draw(w.shape[1:], False, torch.float64).to(w.device)
        kept = keep_top(_rows(scores), quotas.flatten(), _rows(allowed.bool()))
        masks.append(kept.reshape(allowed.shape))
    return masks


class SRigL:
    """SRigL (Lasby et al. 2024): RigL with a constant fan-in per neuron and ablation."""

    name: ClassVar[str] = "srigl"
    paper: ClassVar[str] = (
        "Lasby, Golubeva, Evci, Nica & Ioannou, Dynamic Sparse Training with Structured "
        "Sparsity, ICLR 2024"
    )
    summary: ClassVar[str] = (
        "RigL with (near-)constant fan-in per neuron; neurons with few salient weights are ablated."
    )
    Params: ClassVar[type[HyperParameters]] = SRigLParams

    def __init__(self, params: HyperParameters | None = None) -> None:
        self.params: SRigLParams = params or SRigLParams()  # type: ignore[assignment]

    def run(self, session: Session, target_nnz: torch.Tensor) -> None:
        population = session.population
        target = check_targets(population.weight_nnz(), target_nnz, len(population.weights))
        allowed = [m.bool().clone() for m in population.weight_masks]
        commit_masks(population, constant_fan_in_masks(population, target, session.draw))
        session.train(callbacks=[SRigLUpdates(self.params, allowed)])
