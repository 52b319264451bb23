"""What the pruning-at-initialisation methods share: the loss and its gradients over
explicit parameter tensors (the forward pass is algorithms.forward.mlp_forward), their
data, schedules and the Xavier re-init.

Every tensor's first axis is the model: weights[l] [M, out, in], biases[l] [M, out],
inputs x [M, B, in], labels y [M, B]. The models are independent, so the gradient of the
summed per-model losses is every model's own gradient at once.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from typing import TypeVar

import torch

from algorithms.base import Draw, PopulationLike, Session
from algorithms.forward import mlp_forward
from algorithms.topk import global_topk

Batch = tuple[torch.Tensor, torch.Tensor]
T = TypeVar("T")


def last(steps: Iterable[T]) -> T:
    """The last item of a step-by-step iterator, holding no earlier one in memory."""
    return deque(steps, maxlen=1)[0]


def bce_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean BCE-with-logits per model [M] (the study's loss)."""
    return torch.nn.functional.binary_cross_entropy_with_logits(
        logits, y.to(logits.dtype), reduction="none"
    ).mean(1)


def loss_gradients(
    weights: Sequence[torch.Tensor],
    biases: Sequence[torch.Tensor],
    x: torch.Tensor,
    y: torch.Tensor,
) -> list[torch.Tensor]:
    """dL/dW of every model's mean BCE on its batch, at `weights` (biases held fixed)."""
    ws = [w.detach().requires_grad_(True) for w in weights]
    loss = bce_loss(mlp_forward(ws, [b.detach() for b in biases], x), y)
    return list(torch.autograd.grad(loss.sum(), ws))


def kept_biases(weight_masks: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """Bias masks for `weight_masks` by PAPER.md's rule (as `population.bias_masks`): a
    hidden neuron keeps its bias while it has an outgoing weight; the output's is kept."""
    hidden = [nxt.bool().any(dim=1) for nxt in weight_masks[1:]]
    last = weight_masks[-1]
    return [*hidden, torch.ones(last.shape[:2], dtype=torch.bool, device=last.device)]


def exponential_schedule(
    n_start: torch.Tensor, n_final: torch.Tensor, steps: int
) -> list[torch.Tensor]:
    """Weights kept after each of `steps` steps, per model [M] int64.

    Step k keeps floor(n_start * (n_final / n_start)^(k / steps)) (the references' int()
    of an exponentially decaying keep fraction), never fewer than n_final, and the last
    step keeps exactly n_final.
    """
    start = n_start.to(torch.float64)
    ratio = n_final.to(torch.float64) / start
    out = []
    for k in range(1, steps + 1):
        n = torch.floor(start * ratio ** (k / steps) + 1e-9).to(torch.int64)
        out.append(torch.minimum(torch.maximum(n, n_final), n_start))
    out[-1] = n_final.clone()
    return out


def mini_batches(session: Session, count: int) -> list[Batch]:
    """`count` consecutive training mini-batches per model: the first batches of each
    model's first epoch (wrapping around when the data has fewer points)."""
    size = session.batch_size
    x, y = session.batch(size * count)
    index = torch.arange(size * count, device=x.device) % x.shape[1]
    x, y = x[:, index], y[:, index]
    return [
        (x[:, k * size : (k + 1) * size], y[:, k * size : (k + 1) * size]) for k in range(count)
    ]


def step_batches(session: Session, count: int, fresh: bool) -> list[Batch]:
    """One batch per step: consecutive mini-batches when `fresh`, else the same one."""
    return mini_batches(session, count) if fresh else [session.batch()] * count


def xavier_normal_(population: PopulationLike, draw: Draw) -> None:
    """Re-initialise every kept weight Xavier-normal, in place; biases are kept.

    Model m's layer l gets N(0, 2 / (fan_in + fan_out)) with the fans of that model's
    own layer (rows and columns holding a kept weight, so a narrower model padded into
    the population gets its own Xavier scale). One float32 normal draw [M, out, in] per
    layer, in layer order, from `draw`: a model's new weights depend on that model alone.
    """
    for w, mask in zip(population.weights, population.weight_masks, strict=True):
        kept = mask.bool()
        fan_in = kept.any(dim=1).sum(dim=1)
        fan_out = kept.any(dim=2).sum(dim=1)
        std = torch.sqrt(2.0 / (fan_in + fan_out).clamp(min=1).to(torch.float64))
        normal = draw(w.shape[1:], True, torch.float32)
        new = normal.to(w.device, torch.float64) * std.view(-1, 1, 1)
        w.copy_(new.to(w.dtype) * kept)


def progressive_skeletonization(
    weights: Sequence[torch.Tensor],
    biases: Sequence[torch.Tensor],
    masks: Sequence[torch.Tensor],
    batches: Sequence[Batch],
    schedule: Sequence[torch.Tensor],
    revive: bool,
) -> Iterator[tuple[list[torch.Tensor], list[torch.Tensor]]]:
    """Yields (scores, masks) after each step of iterative SNIP / FORCE (de Jorge et al.).

    Step k scores the network pruned by the masks so far, w ⊙ m, on batches[k] and keeps
    schedule[k] weights per model. `revive=False` (iterative SNIP): score |(w ⊙ m) * g|,
    ranked among the weights still kept, so a pruned weight never returns. `revive=True`
    (FORCE): score |w * g| with the initial weights w, ranked over every weight the
    models started with, so a pruned weight may come back. g is dL/dW at w ⊙ m. Biases
    stay as given throughout (the references mask weights only while scoring).
    """
    initial = [m.bool().clone() for m in masks]
    current = initial
    for (x, y), keep in zip(batches, schedule, strict=True):
        pruned = [w * m for w, m in zip(weights, current, strict=True)]
        grads = loss_gradients(pruned, biases, x, y)
        if revive:
            scores = [(w * g).abs() for w, g in zip(weights, grads, strict=True)]
            current = global_topk(scores, keep, eligible=initial)
        else:
            scores = [(w * g).abs() for w, g in zip(pruned, grads, strict=True)]
            current = global_topk(scores, keep, eligible=current)
        yield scores, current
