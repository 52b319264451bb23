"""Width then weights: Sparsest's own pruner, designed from the study's diagnosis.

Zhang & Papyan ("Sparsest Models Elude Pruning", ICML 2024) find that pruning misses the
sparsest networks for three reasons: it starts too wide (the gap grows with the width),
it keeps weights on no input-output path, and even from the optimal width and init it
lands in poor minima. This pruner answers each in turn, using only the training data and
its own training runs (never the search's results):

1. **Width first.** One training of the given network while whole hidden neurons are
   pruned on a cubic schedule (`events` prunes, as IMP spaces its own): the neuron whose
   incoming and outgoing weight norms have the smallest product goes first (the product is
   invariant to ReLU's rescaling), one at a time, never the last of a layer, until the
   network's dense weight count is down to `max_slack` x the target.
2. **Then weights, over candidate widths.** From those trained weights, `candidates`
   narrower structures are cut the same way, their dense weight counts at most
   `slack_k` x target (slack_k from `max_slack` geometrically down to 1, so the narrowest
   structure is the smallest one that still holds the budget). Each is retrained with the
   learning-rate schedule rewound while its weights are pruned by global magnitude to
   exactly the target on IMP's schedule, and every weight left on no input-output path is
   removed and its budget re-allocated after every prune (algorithms.repair): the final
   budget is all effective.
3. **Restarts.** The best candidate's mask (by accuracy on the training data, then loss)
   is trained `restarts` more times from fresh initialisations of its own width (PyTorch's
   default, U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with fan_in the live neurons feeding each
   layer, drawn from the model's own stream); the best of all its trainings is kept.

Trainings per run: 1 + candidates + restarts (6 with the defaults: 300 epochs at the
study's 50). The result holds exactly the target weights. They are all on an
input-output path whenever the repair can place the budget of the disconnected ones: it
adds connections, it never swaps, so in a structure cut to just hold the budget a single
weight with no live pair left (two are needed to revive a neuron) stays where magnitude
put it (seen at budgets within a few weights of a bare path).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import torch

from algorithms.base import HyperParameters, PopulationLike, Session, TrainStateLike
from algorithms.connectivity import check_targets, live_neurons
from algorithms.imp import GradualPruning
from algorithms.magnitude_after import commit_masks, magnitude_masks
from algorithms.repair import repair_in_session


@dataclass(frozen=True)
class WidthThenWeightsParams(HyperParameters):
    max_slack: float = field(
        default=3.0,
        metadata={"help": "The widest candidate holds at most this many times the target."},
    )
    candidates: int = field(
        default=3, metadata={"help": "Candidate widths pruned to the target (slack down to 1)."}
    )
    restarts: int = field(
        default=2, metadata={"help": "Fresh initialisations of the best mask, trained once each."}
    )
    events: int = field(default=50, metadata={"help": "Prunes per pruning training."})

    def __post_init__(self) -> None:
        if self.max_slack < 1:
            raise ValueError("max_slack must be at least 1")
        if self.candidates < 1:
            raise ValueError("candidates must be at least 1")
        if self.restarts < 0:
            raise ValueError("restarts must be at least 0")
        if self.events < 1:
            raise ValueError("events must be at least 1")


def dense_count(allowed: Sequence[torch.Tensor], alive: Sequence[torch.Tensor]) -> torch.Tensor:
    """Weights [M] of the structure: allowed connections between alive neurons."""
    return sum(mask.flatten(1).sum(1) for mask in structure_masks(allowed, alive))


def _neuron_scores(population: PopulationLike, alive: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """Per hidden layer [M, n]: |incoming| x |outgoing| weight norms (float64)."""
    weights = [w.detach().double() for w in population.weights]
    scores = []
    for layer in range(1, len(weights)):
        incoming = (weights[layer - 1] * alive[layer - 1].unsqueeze(1)).norm(dim=2)
        outgoing = (weights[layer] * alive[layer + 1].unsqueeze(2)).norm(dim=1)
        scores.append(incoming * outgoing)
    return scores


def prune_neurons(
    population: PopulationLike,
    allowed: Sequence[torch.Tensor],
    alive: list[torch.Tensor],
    budget: torch.Tensor,
) -> None:
    """Removes hidden neurons from `alive` (in place) one at a time, the lowest score
    first (recomputed after each removal), while the structure's dense count stays at
    least budget[m]; a layer's last neuron stays. Masks: allowed & alive, committed."""
    size = population.weights[0].shape[0]
    rows = torch.arange(size, device=alive[0].device)
    while True:
        count = dense_count(allowed, alive)
        scores = _neuron_scores(population, alive)
        best = torch.full((size,), math.inf, dtype=torch.float64, device=rows.device)
        choice = torch.full((size, 2), -1, dtype=torch.int64, device=rows.device)
        for layer in range(1, len(alive) - 1):
            here = alive[layer]
            fan_in = (allowed[layer - 1] & alive[layer - 1].unsqueeze(1)).sum(2)
            fan_out = (allowed[layer] & alive[layer + 1].unsqueeze(2)).sum(1)
            cost = (fan_in + fan_out) * here
            removable = here & (count.unsqueeze(1) - cost >= budget.unsqueeze(1))
            removable &= here.sum(1, keepdim=True) > 1
            s = torch.where(removable, scores[layer - 1], math.inf)
            low, index = s.min(1)  # ties: the lower index, then the earlier layer
            better = low < best
            best = torch.where(better, low, best)
            choice[better] = torch.stack([torch.full_like(index, layer), index], 1)[better]
        chosen = torch.isfinite(best)
        if not bool(chosen.any()):
            break
        for layer in range(1, len(alive) - 1):
            hit = chosen & (choice[:, 0] == layer)
            alive[layer][rows[hit], choice[hit, 1]] = False
    commit_masks(population, structure_masks(allowed, alive))


def structure_masks(
    allowed: Sequence[torch.Tensor], alive: Sequence[torch.Tensor]
) -> list[torch.Tensor]:
    return [a & alive[k + 1].unsqueeze(2) & alive[k].unsqueeze(1) for k, a in enumerate(allowed)]


class NeuronPruning(GradualPruning):
    """Gradual neuron pruning in one training: the dense count follows IMP's cubic
    schedule (`GradualPruning`'s events) from its start to `final` (at least), one
    neuron at a time."""

    def __init__(
        self,
        allowed: Sequence[torch.Tensor],
        alive: list[torch.Tensor],
        final: torch.Tensor,
        events: int,
    ) -> None:
        super().__init__(dense_count(allowed, alive), final, events, exponent=3.0)
        self.allowed, self.alive = allowed, alive

    def on_event(self, state: TrainStateLike, session: Session) -> None:
        prune_neurons(state.population, self.allowed, self.alive, self.budget(state.step))


class EffectiveGradualPruning(GradualPruning):
    """IMP's gradual magnitude pruning to `target`, each prune followed by the repair
    that re-allocates disconnected weights within `allowed` (the candidate structure)."""

    def __init__(
        self,
        allowed: Sequence[torch.Tensor],
        start: torch.Tensor,
        target: torch.Tensor,
        events: int,
    ) -> None:
        super().__init__(start, target, events, exponent=3.0)
        self.allowed = allowed

    def on_event(self, state: TrainStateLike, session: Session) -> None:
        super().on_event(state, session)
        repair_in_session(session, state.population, self.allowed, state.weight_momentum)


Snapshot = tuple[list[torch.Tensor], list[torch.Tensor], list[torch.Tensor]]


def snapshot(population: PopulationLike) -> Snapshot:
    return (
        [w.detach().clone() for w in population.weights],
        [b.detach().clone() for b in population.biases],
        [m.clone() for m in population.weight_masks],
    )


def restore(population: PopulationLike, state: Snapshot) -> None:
    """Copy `state` into the population, in place."""
    groups = (population.weights, population.biases, population.weight_masks)
    with torch.no_grad():
        for current, saved in zip(groups, state, strict=True):
            for tensor, value in zip(current, saved, strict=True):
                tensor.copy_(value)


def keep_winners(best: Snapshot, now: Snapshot, wins: torch.Tensor) -> None:
    """best[m] = now[m] for every model m that wins, in place."""
    for saved, current in zip(best, now, strict=True):
        for tensor, value in zip(saved, current, strict=True):
            where = wins.to(tensor.device).view((-1,) + (1,) * (tensor.dim() - 1))
            tensor.copy_(torch.where(where, value, tensor))


def fresh_init(session: Session) -> None:
    """Re-draw every kept weight and bias of the population: U(-1/sqrt(f), 1/sqrt(f)),
    f the live neurons feeding the layer (at least 1), from each model's own stream."""
    population = session.population
    forward, backward = live_neurons(population.weight_masks)
    alive = [f & b for f, b in zip(forward, backward, strict=True)]
    with torch.no_grad():
        for layer, (w, b) in enumerate(zip(population.weights, population.biases, strict=True)):
            fan_in = alive[layer].sum(1).clamp(min=1).to(torch.float64)
            bound = (1.0 / fan_in.sqrt()).view(-1, 1, 1)
            uniform = session.draw(w.shape[1:])
            w.copy_(((uniform * 2 - 1) * bound).to(w.dtype))
            uniform = session.draw(b.shape[1:])
            b.copy_(((uniform * 2 - 1) * bound.view(-1, 1)).to(b.dtype))
    population.apply_masks()


def better(
    acc: torch.Tensor, loss: torch.Tensor, best_acc: torch.Tensor, best_loss: torch.Tensor
) -> torch.Tensor:
    """Per model: higher training accuracy, then lower loss (NaN loss: pass it as inf)."""
    return (acc > best_acc) | ((acc == best_acc) & (loss < best_loss))


class WidthThenWeights:
    """Width then weights: prune neurons, then weights over candidate widths with every
    weight effective, then restarts; the best training wins (see the module docstring)."""

    name: ClassVar[str] = "width-then-weights"
    paper: ClassVar[str] = (
        "Sparsest's own pruner, designed from Zhang & Papyan, Sparsest Models Elude "
        "Pruning, ICML 2024"
    )
    summary: ClassVar[str] = (
        "Prune neurons while training, then weights (all effective) over candidate widths, "
        "then restart the best mask; 6 trainings."
    )
    Params: ClassVar[type[HyperParameters]] = WidthThenWeightsParams

    def __init__(self, params: HyperParameters | None = None) -> None:
        self.params: WidthThenWeightsParams = params or WidthThenWeightsParams()  # type: ignore[assignment]

    def training_epochs(self, epochs: int) -> int:
        """Epochs a model trains in all: 1 + candidates + restarts trainings."""
        return (1 + self.params.candidates + self.params.restarts) * epochs

    def slacks(self) -> list[float]:
        """The candidates' slacks, widest first, the last exactly 1."""
        count, top = self.params.candidates, self.params.max_slack
        if count == 1:
            return [1.0]
        return [top ** (1 - k / (count - 1)) for k in range(count)]

    def run(self, session: Session, target_nnz: torch.Tensor) -> None:
        population = session.population
        target = check_targets(population.weight_nnz(), target_nnz, len(population.weights))
        events = self.params.events
        allowed = [m.bool().clone() for m in population.weight_masks]
        alive, _ = live_neurons(allowed)
        slacks = self.slacks()

        def budget(slack: float) -> torch.Tensor:
            return torch.ceil(target.double() * slack).to(torch.int64)

        session.train(callbacks=[NeuronPruning(allowed, alive, budget(slacks[0]), events)])
        trained = snapshot(population)
        trained_alive = [a.clone() for a in alive]
        scores = Scores(session)
        for slack in slacks:
            restore(population, trained)
            alive = [a.clone() for a in trained_alive]
            prune_neurons(population, allowed, alive, budget(slack))
            structure = [m.clone() for m in population.weight_masks]
            start = population.weight_nnz()
            session.train(callbacks=[EffectiveGradualPruning(structure, start, target, events)])
            if not bool((population.weight_nnz() == target).all()):
                # Only a training with no optimiser step at all skips the last prune.
                commit_masks(population, magnitude_masks(population, target))
                repair_in_session(session, population, structure)
            scores.offer()
        for _ in range(self.params.restarts):
            restore(population, scores.best)
            fresh_init(session)
            session.train()
            scores.offer()
        restore(population, scores.best)


class Scores:
    """The best state of each model over the trainings offered (training accuracy, then
    loss; see `better`)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        size = session.population.weights[0].shape[0]
        self.accuracy = torch.full((size,), -math.inf, dtype=torch.float64)
        self.loss = torch.full((size,), math.inf, dtype=torch.float64)
        self._best: Snapshot | None = None

    @property
    def best(self) -> Snapshot:
        assert self._best is not None, "no training offered yet"
        return self._best

    def offer(self) -> None:
        """Score the population now; keep each model's state where it is the best yet."""
        acc, loss = self.session.score()
        acc = acc.double().cpu()
        loss = torch.nan_to_num(loss.double().cpu(), nan=math.inf)
        wins = better(acc, loss, self.accuracy, self.loss)
        now = snapshot(self.session.population)
        if self._best is None:
            self._best = now
        else:
            keep_winners(self._best, now, wins)
        self.accuracy = torch.where(wins, acc, self.accuracy)
        self.loss = torch.where(wins, loss, self.loss)
