"""Effective-sparsity repair: a wrapper that makes every kept weight of any algorithm count.

Vysogorets & Kempe, "Connectivity Matters: Neural Network Pruning Through the Lens of
Effective Sparsity" (JMLR 2023, arXiv 2107.02306): pruned networks keep weights on no
input-output path (algorithms.connectivity), so their *effective* sparsity is higher
than the nominal one, and a method should be given its budget in effective weights.
`NAME+repair` runs algorithm NAME with every weight budget made effective:

- Whenever NAME hands over a mask (before each of its trainings, after each of its
  in-training events, and once after it returns), the disconnected weights are removed.
  A removed weight leaving a constant neuron (one no input reaches) has its constant
  contribution folded into its target's bias, so removing it changes no output.
- Their budget is re-allocated to effective weights: first to unused connections
  between live neurons (sources reached from the inputs, targets reaching the output),
  the largest dense gradient |dL/dW| first, as RigL grows (on each model's first
  mini-batch; ties to the lower index); when none is left, a dead hidden neuron is
  revived with its best incoming and outgoing connection (two weights), or, in a model
  with no path left, one path is laid from the output through the first neurons.
  Regrown weights start at zero (momentum too), so the repair itself changes no output;
  training moves them.
- Only connections of the model's starting mask are grown (padding stays out). What
  cannot be placed (a single weight with no live pair left) keeps its largest
  disconnected weights, so the weight count is NAME's exactly, every time.

A mask NAME sets after its last training (Wanda without fine-tuning) is repaired with
untrained zero weights: the budget is then effective by the mask but adds nothing yet.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import torch

from algorithms.base import (
    Algorithm,
    HyperParameters,
    PopulationLike,
    Session,
    StepCallback,
    TrainStateLike,
)
from algorithms.connectivity import connectivity, live_neurons
from algorithms.forward import mlp_forward
from algorithms.topk import global_topk

SUFFIX = "+repair"
PAPER = (
    "Vysogorets & Kempe, Connectivity Matters: Neural Network Pruning Through the Lens of "
    "Effective Sparsity, JMLR 2023"
)


def _grow_live_pairs(
    new: list[torch.Tensor],
    allowed: Sequence[torch.Tensor],
    scores: Sequence[torch.Tensor],
    deficit: torch.Tensor,
) -> torch.Tensor:
    """Adds up to deficit[m] unused allowed connections between live neurons (best scores
    first) to `new` in place; returns how many each model got."""
    forward, backward = live_neurons(new)
    candidates = [
        a & ~n & forward[layer].unsqueeze(1) & backward[layer + 1].unsqueeze(2)
        for layer, (a, n) in enumerate(zip(allowed, new, strict=True))
    ]
    available = sum(c.flatten(1).sum(1) for c in candidates)
    take = torch.minimum(deficit, available)
    grown = global_topk(scores, take, eligible=candidates)
    for n, g in zip(new, grown, strict=True):
        n |= g
    return take


def _revive(
    new: list[torch.Tensor], allowed: Sequence[torch.Tensor], scores: Sequence[torch.Tensor]
) -> int:
    """One model (tensors [1, out, in]) with a path: make the dead hidden neuron with the
    best pair of scores live by its best incoming and outgoing allowed connection.
    Returns the weights added (2, or 0 when no dead neuron can join)."""
    forward, backward = live_neurons(new)
    best: tuple[float, int, int, int, int] | None = None  # (-score, layer, h, source, target)
    for layer in range(1, len(new)):  # hidden layer `layer`: the input of weights[layer]
        dead = ~(forward[layer] & backward[layer])[0]
        into = allowed[layer - 1][0] & forward[layer - 1][0].unsqueeze(0)  # [h, source]
        out = allowed[layer][0] & backward[layer + 1][0].unsqueeze(1)  # [target, h]
        s_in = torch.where(into, scores[layer - 1][0], -1.0)
        s_out = torch.where(out, scores[layer][0], -1.0)
        for h in dead.nonzero().flatten().tolist():
            if not (bool(into[h].any()) and bool(out[:, h].any())):
                continue
            source, target = int(s_in[h].argmax()), int(s_out[:, h].argmax())
            score = float(s_in[h, source] + s_out[target, h])
            if best is None or -score < best[0]:
                best = (-score, layer, h, source, target)
    if best is None:
        return 0
    _, layer, h, source, target = best
    new[layer - 1][0, h, source] = True
    new[layer][0, target, h] = True
    return 2


def _lay_path(new: list[torch.Tensor], allowed: Sequence[torch.Tensor]) -> int:
    """One model with no path left: one path from output 0 backwards, each step to the
    first allowed source. Returns the weights added (0 when none can be laid)."""
    path: list[tuple[int, int, int]] = []
    target = 0
    for layer in reversed(range(len(new))):
        row = allowed[layer][0, target].nonzero().flatten()
        if len(row) == 0:
            return 0
        path.append((layer, target, int(row[0])))
        target = int(row[0])
    for layer, t, s in path:
        new[layer][0, t, s] = True
    return len(path)


def repair_population(
    population: PopulationLike,
    allowed: Sequence[torch.Tensor],
    gradients: Sequence[torch.Tensor],
    momentum: Sequence[torch.Tensor] | None = None,
) -> bool:
    """Remove the disconnected weights of every model and re-allocate their budget (see
    the module docstring), in place; the weight count of each model is unchanged.
    Returns whether any mask changed. `momentum`: zeroed where a weight came or went."""
    masks = [m.bool().clone() for m in population.weight_masks]  # .bool() of a bool: no copy
    conn = connectivity(masks)
    deficit = conn.disconnected.to(torch.int64)
    if not bool((deficit > 0).any()):
        return False
    new = [e.clone() for e in conn.effective_masks]
    scores = [g.detach().abs().double() for g in gradients]
    deficit = deficit - _grow_live_pairs(new, allowed, scores, deficit)
    for m in (deficit > 0).nonzero().flatten().tolist():
        one = [n[m : m + 1] for n in new]  # views: changes land in `new`
        ok = [a[m : m + 1] for a in allowed]
        sc = [s[m : m + 1] for s in scores]
        while deficit[m] > 0:
            left = deficit[m : m + 1]
            got = int(_grow_live_pairs(one, ok, sc, left)[0])
            if got == 0 and _has_path(one):
                got = _revive(one, ok, sc) if int(left[0]) >= 2 else 0
            elif got == 0 and int(left[0]) >= len(one):
                got = _lay_path(one, ok)
            if got == 0:
                break
            deficit[m] -= got
    removed = [m & ~n for m, n in zip(masks, new, strict=True)]
    # What cannot be placed keeps NAME's largest disconnected weights.
    magnitude = [w.detach().abs() for w in population.weights]
    kept_back = global_topk(magnitude, deficit.clamp(min=0), eligible=removed)
    removed = [r & ~k for r, k in zip(removed, kept_back, strict=True)]
    new = [n | k for n, k in zip(new, kept_back, strict=True)]
    _fold_constants(population, masks, removed)
    for current, mask in zip(population.weight_masks, new, strict=True):
        current.copy_(mask)
    population.apply_masks()
    if momentum is not None:
        for buffer, before, after in zip(momentum, masks, new, strict=True):
            buffer.masked_fill_(before != after, 0)
    return True


def repair_in_session(
    session: Session,
    population: PopulationLike,
    allowed: Sequence[torch.Tensor],
    momentum: Sequence[torch.Tensor] | None = None,
) -> bool:
    """`repair_population` with the gradients of the session's first batch, asked only
    when some model keeps a disconnected weight. Returns whether any mask changed."""
    if not bool((connectivity(population.weight_masks).disconnected > 0).any()):
        return False
    x, y = session.batch()
    grads, _, _ = session.gradients(x, y, population)
    return repair_population(population, allowed, grads, momentum)


def _has_path(one: Sequence[torch.Tensor]) -> bool:
    return bool(connectivity(one).effective_nnz[0] > 0)


def _fold_constants(
    population: PopulationLike, masks: Sequence[torch.Tensor], removed: Sequence[torch.Tensor]
) -> None:
    """For each removed weight leaving a neuron no input reaches (its output is a constant
    c), add w * c to its target's bias, so the removal changes no output."""
    forward, _ = live_neurons(masks)
    weights = population.weights
    zeros = torch.zeros(weights[0].shape[0], 1, weights[0].shape[2], dtype=weights[0].dtype)
    inputs: list[torch.Tensor] = []
    with torch.no_grad():
        mlp_forward(weights, population.biases, zeros.to(weights[0].device), inputs)
        for layer, (w, b) in enumerate(zip(weights, population.biases, strict=True)):
            constant = removed[layer] & ~forward[layer].unsqueeze(1)
            if bool(constant.any()):
                folded = torch.bmm(w * constant, inputs[layer].transpose(1, 2)).squeeze(2)
                b.add_(folded.to(b.dtype))


class _RepairingCallback(StepCallback):
    def __init__(self, inner: StepCallback, repair: _Repair) -> None:
        self.inner, self.repair = inner, repair

    def event_steps(self, total_steps: int, steps_per_epoch: int) -> Sequence[int]:
        return self.inner.event_steps(total_steps, steps_per_epoch)

    def on_event(self, state: TrainStateLike, session: Session) -> None:
        self.inner.on_event(state, session)
        self.repair(state.population, state.weight_momentum)


class _Repair:
    """The repair step of one run: the starting masks and the session's first batch."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.allowed = [m.bool().clone() for m in session.population.weight_masks]
        self.changes = 0

    def __call__(
        self, population: PopulationLike, momentum: Sequence[torch.Tensor] | None = None
    ) -> None:
        self.changes += repair_in_session(self.session, population, self.allowed, momentum)


class RepairingSession:
    """A Session that repairs the masks before every training and after every event."""

    def __init__(self, session: Session, repair: _Repair) -> None:
        self._session, self._repair = session, repair

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session, name)

    def train(self, callbacks: Sequence[StepCallback] = (), epochs: int | None = None) -> None:
        self._repair(self._session.population)
        wrapped = [_RepairingCallback(c, self._repair) for c in callbacks]
        self._session.train(wrapped, epochs)


def repaired(inner: type[Algorithm]) -> type[Algorithm]:
    """The algorithm class `inner.name + '+repair'`: `inner` run on a RepairingSession,
    then a last repair. Same hyper-parameters and training epochs as `inner`."""

    class Repaired:
        name: ClassVar[str] = inner.name + SUFFIX
        paper: ClassVar[str] = f"{inner.paper}; repair: {PAPER}"
        summary: ClassVar[str] = (
            f"{inner.name}, its disconnected weights re-allocated to effective ones: "
            + inner.summary
        )
        Params: ClassVar[type[HyperParameters]] = inner.Params
        wraps: ClassVar[type[Algorithm]] = inner

        def __init__(self, params: HyperParameters | None = None) -> None:
            self.inner = inner(params or inner.Params())
            self.params = self.inner.params if hasattr(self.inner, "params") else params

        def training_epochs(self, epochs: int) -> int:
            count = getattr(self.inner, "training_epochs", None)
            return int(count(epochs)) if count is not None else epochs

        def run(self, session: Session, target_nnz: torch.Tensor) -> None:
            repair = _Repair(session)
            self.inner.run(RepairingSession(session, repair), target_nnz)  # type: ignore[arg-type]
            repair(session.population)

    Repaired.__name__ = Repaired.__qualname__ = f"Repaired{inner.__name__}"
    Repaired.__doc__ = f"{inner.name} with effective-sparsity repair (Vysogorets & Kempe)."
    return Repaired  # type: ignore[return-value]
