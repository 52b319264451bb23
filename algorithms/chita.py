"""CHITA-style combinatorial one-shot pruning: an l0-constrained quadratic model of the
loss from the empirical Fisher, solved by iterative hard thresholding.

Benbaki, Chen, Meng, Hazimeh, Ponomareva, Zhao & Mazumder, "Fast as CHITA: Neural
Network Pruning with Combinatorial Optimization" (ICML 2023, arXiv 2302.14623). After
dense training at weights w̄, with G [n, p] the per-sample loss gradients on n calibration
points (the empirical Fisher H = GᵀG / n, never formed: only products with G and Gᵀ),

    minimise  Q(w) = ||G (w - w̄)||² / (2n) + ridge / 2 ||w - w̄||²   s.t.  ||w||_0 <= k

by iterative hard thresholding: w <- P_k(w - ∇Q(w) / L), L the largest eigenvalue of
H + ridge (power iteration), P_k keeping the k largest |w| of the model's weights (ties to
the lower index, so exactly k), starting from P_k(w̄). The kept weights move with every
step; `refine_iterations` more gradient steps then run on the final support alone (the
support fixed), as CHITA's backsolve on the support. Biases stay as trained. The paper's
one-shot setting does not fine-tune; `finetune_epochs` adds it.

Everything is float64 and per model; models are processed in chunks so that G stays
within `chunk_bytes`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import torch

from algorithms.base import HyperParameters, Session
from algorithms.connectivity import check_targets
from algorithms.magnitude_after import commit_masks
from algorithms.topk import keep_top

CHUNK_BYTES = 1 << 28
POWER_ITERATIONS = 50


@dataclass(frozen=True)
class ChitaParams(HyperParameters):
    calibration_points: int = field(
        default=256,
        metadata={"help": "Points whose per-sample gradients form the Fisher (each model's "
                  "first in its data order)."},
    )  # fmt: skip
    ridge: float = field(
        default=1e-3, metadata={"help": "Ridge term keeping w near the trained weights."}
    )
    iterations: int = field(default=100, metadata={"help": "Hard-thresholding steps."})
    refine_iterations: int = field(
        default=20, metadata={"help": "Gradient steps on the final support."}
    )
    finetune_epochs: int = field(
        default=0, metadata={"help": "Epochs of fine-tuning after the prune (0: none, as CHITA)."}
    )

    def __post_init__(self) -> None:
        if self.calibration_points < 1 or self.iterations < 1:
            raise ValueError("calibration_points and iterations must be at least 1")
        if self.refine_iterations < 0 or self.finetune_epochs < 0:
            raise ValueError("refine_iterations and finetune_epochs must be at least 0")
        if self.ridge < 0:
            raise ValueError("ridge must be at least 0")


def per_sample_gradients(
    weights: Sequence[torch.Tensor],
    biases: Sequence[torch.Tensor],
    x: torch.Tensor,
    y: torch.Tensor,
) -> torch.Tensor:
    """G [M, n, p]: each point's BCE-with-logits gradient by the weights (all layers,
    flattened row-major, layer by layer), float64, by a hand-written backward pass."""
    ws = [w.detach().double() for w in weights]
    h = x.double()
    inputs, pre = [], []
    for layer, (w, b) in enumerate(zip(ws, biases, strict=True)):
        inputs.append(h)
        z = torch.baddbmm(b.detach().double().unsqueeze(1), h, w.transpose(1, 2))
        pre.append(z)
        h = torch.relu(z) if layer < len(ws) - 1 else z
    delta = torch.sigmoid(h) - y.double().unsqueeze(2)  # [M, n, 1]
    grads: list[torch.Tensor] = []
    for layer in reversed(range(len(ws))):
        grads.insert(0, (delta.unsqueeze(3) * inputs[layer].unsqueeze(2)).flatten(2))
        if layer > 0:
            delta = torch.bmm(delta, ws[layer]) * (pre[layer - 1] > 0)
    return torch.cat(grads, dim=2)


def _top(w: torch.Tensor, k: torch.Tensor, eligible: torch.Tensor) -> torch.Tensor:
    return keep_top(w.abs(), k, eligible)


def chita_solve(
    g: torch.Tensor,
    w_bar: torch.Tensor,
    eligible: torch.Tensor,
    k: torch.Tensor,
    params: ChitaParams,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(weights [M, p], support [M, p] bool with exactly k[m] entries) of the IHT on
    G [M, n, p] (zero outside `eligible`), the trained weights w̄ [M, p], float64."""
    n = g.shape[1]
    g = g * eligible.unsqueeze(1)

    def fisher(d: torch.Tensor) -> torch.Tensor:  # (H + ridge) d, per model
        gd = torch.bmm(g, d.unsqueeze(2))
        return torch.bmm(g.transpose(1, 2), gd).squeeze(2) / n + params.ridge * d

    v = eligible.to(torch.float64)
    v = v / v.norm(dim=1, keepdim=True).clamp_min(1e-300)
    for _ in range(POWER_ITERATIONS):
        hv = fisher(v)
        v = hv / hv.norm(dim=1, keepdim=True).clamp_min(1e-300)
    lipschitz = (v * fisher(v)).sum(1).clamp_min(1e-12).unsqueeze(1)
    support = _top(w_bar, k, eligible)
    w = w_bar * support
    for _ in range(params.iterations):
        step = w - fisher(w - w_bar) / lipschitz
        support = _top(step, k, eligible)
        w = step * support
    for _ in range(params.refine_iterations):
        w = (w - fisher(w - w_bar) / lipschitz) * support
    return w, support


class Chita:
    """CHITA (Benbaki et al. 2023): l0-constrained Fisher quadratic, solved by IHT."""

    name: ClassVar[str] = "chita"
    paper: ClassVar[str] = (
        "Benbaki, Chen, Meng, Hazimeh, Ponomareva, Zhao & Mazumder, Fast as CHITA: Neural "
        "Network Pruning with Combinatorial Optimization, ICML 2023"
    )
    summary: ClassVar[str] = (
        "Train dense; one-shot l0-constrained empirical-Fisher quadratic by iterative hard "
        "thresholding, kept weights updated."
    )
    Params: ClassVar[type[HyperParameters]] = ChitaParams

    def __init__(self, params: HyperParameters | None = None) -> None:
        self.params: ChitaParams = params or ChitaParams()  # type: ignore[assignment]

    def training_epochs(self, epochs: int) -> int:
        """Epochs a model trains in all: dense training, then the fine-tune (if any)."""
        return epochs + self.params.finetune_epochs

    def run(self, session: Session, target_nnz: torch.Tensor) -> None:
        population = session.population
        target = check_targets(population.weight_nnz(), target_nnz, len(population.weights))
        session.train()
        x, y = session.batch(self.params.calibration_points)
        weights, masks = population.weights, population.weight_masks
        sizes = [w[0].numel() for w in weights]
        p = sum(sizes)
        chunk = max(1, CHUNK_BYTES // (8 * x.shape[1] * p))
        new_w, new_m = [], []
        for start in range(0, population.size, chunk):
            part = slice(start, start + chunk)
            parts = [w[part] for w in weights], [b[part] for b in population.biases]
            g = per_sample_gradients(*parts, x[part], y[part])
            w_bar = torch.cat([w[part].detach().double().flatten(1) for w in weights], dim=1)
            eligible = torch.cat([m[part].flatten(1) for m in masks], dim=1).bool()
            w, support = chita_solve(g, w_bar, eligible, target[part], self.params)
            new_w.append(w)
            new_m.append(support)
        flat_w, flat_m = torch.cat(new_w), torch.cat(new_m)
        offset = 0
        layer_masks = []
        with torch.no_grad():
            for w, size in zip(weights, sizes, strict=True):
                w.copy_(flat_w[:, offset : offset + size].reshape(w.shape).to(w.dtype))
                layer_masks.append(flat_m[:, offset : offset + size].reshape(w.shape))
                offset += size
        commit_masks(population, layer_masks)
        if self.params.finetune_epochs:
            session.train(epochs=self.params.finetune_epochs)
