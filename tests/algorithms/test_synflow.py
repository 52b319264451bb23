"""SynFlow against a plain one-model reference, round by round, plus exact budgets."""

from __future__ import annotations

import copy

import torch

from algorithms.scoring import exponential_schedule
from algorithms.synflow import SynFlow, SynFlowParams, synflow_rounds
from tests.algorithms.test_snip import PlainMLP, check_run, make_session, plain_schedule, plain_top


def plain_synflow(model: PlainMLP, target: int, rounds: int):  # type: ignore[no-untyped-def]
    """Tanaka et al. as the study's code runs it on one model (in float64): every round,
    take |.| of every weight and bias (pruned weights and the biases of neurons without
    an outgoing weight zeroed), feed one all-ones input, backprop the summed output and
    score |w * dR/dw|; keep the top n_k of the weights still kept."""
    total = sum(layer.weight.numel() for layer in model.layers)
    masks = [torch.ones_like(layer.weight, dtype=torch.bool) for layer in model.layers]
    out = []
    for keep in plain_schedule(total, target, rounds):
        net = copy.deepcopy(model)
        bias_masks = [nxt.any(0) for nxt in masks[1:]] + [torch.ones(1, dtype=torch.bool)]
        with torch.no_grad():
            for layer, m, bm in zip(net.layers, masks, bias_masks, strict=True):
                layer.weight.copy_(layer.weight.abs() * m)
                layer.bias.copy_(layer.bias.abs() * bm)
        net(torch.ones(1, model.layers[0].weight.shape[1], dtype=torch.float64)).sum().backward()
        scores = [(layer.weight.grad * layer.weight).detach().abs() for layer in net.layers]
        masks = plain_top(scores, masks, keep)
        out.append((scores, masks))
    return out


def test_every_round_matches_the_plain_reference() -> None:
    session = make_session()
    population = session.population
    targets = [4, 11, 25]
    schedule = exponential_schedule(population.weight_nnz(), torch.tensor(targets), 100)
    got = list(
        synflow_rounds(population.weights, population.biases, population.weight_masks, schedule)
    )
    assert got[0][0][0].dtype == torch.float64
    for k, target in enumerate(targets):
        want = plain_synflow(PlainMLP(population, k, dtype=torch.float64), target, 100)
        assert len(want) == len(got) == 100
        for (scores, masks), (plain_scores, plain_masks) in zip(got, want, strict=True):
            for s, p in zip(scores, plain_scores, strict=True):
                torch.testing.assert_close(s[k], p, rtol=1e-12, atol=0.0)
            for m, p in zip(masks, plain_masks, strict=True):
                assert torch.equal(m[k], p)


def test_is_data_free_and_keeps_exact_budgets() -> None:
    session = make_session(seeds=(0, 1, 2, 3))

    def no_data(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("SynFlow must not look at the data")

    session.batch = no_data  # type: ignore[method-assign]
    check_run(SynFlow(), [4, 9, 20, 43], session)


def test_padded_models_keep_only_their_own_weights() -> None:
    active = [(2, 3, 3, 3, 1), (2, 4, 2, 4, 1), (2, 4, 4, 4, 1)]
    session = make_session(active=active)
    check_run(SynFlow(SynFlowParams(rounds=7)), [4, 14, 40], session)


def test_wide_networks_do_not_overflow() -> None:
    """Width 256 with weights scaled up: float32 would overflow, float64 keeps a ranking."""
    session = make_session(seeds=(0, 1), sizes=(2, 256, 256, 256, 1))
    population = session.population
    for w in population.weights:
        w.mul_(1e12)
    schedule = exponential_schedule(population.weight_nnz(), torch.tensor([30, 60]), 3)
    *_, (scores, masks) = synflow_rounds(
        population.weights, population.biases, population.weight_masks, schedule
    )
    assert all(torch.isfinite(s).all() for s in scores)
    assert sum(m.flatten(1).sum(1) for m in masks).tolist() == [30, 60]
