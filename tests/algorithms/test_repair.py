"""Effective-sparsity repair (NAME+repair): exact budgets, every kept weight effective,
no output changed by a repair, one model alone as in a population, and the composition
through the registry, specs and `sparsest prune`."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import torch
from typer.testing import CliRunner

from algorithms.connectivity import connectivity, live_neurons
from algorithms.hparams import parse_hparams
from algorithms.registry import ALGORITHMS
from algorithms.repair import repair_population
from harness.training.datasets import load_dataset
from harness.training.engines.base import SGDConfig
from harness.training.population import Population
from tests.algorithms.test_exact_budgets import CheckedSession, assert_masked_zero

SIZES = (2, 5, 5, 5, 1)


@pytest.fixture(autouse=True)
def forget_compositions() -> Iterator[None]:
    """Named compositions stay listed in the registry: forget them for later tests."""
    yield
    ALGORITHMS.reload()


TARGETS = [4, 6, 9, 20, 45]


def scrambled(seed: int, models: int, density: float) -> Population:
    """A population with random sparse masks (many disconnected weights, constant
    neurons) and non-zero biases."""
    g = torch.Generator().manual_seed(seed)
    population = Population.initialize(
        SIZES, list(range(models)), [0.1] * models, ["cosine"] * models
    )
    for mask in population.weight_masks:
        mask &= torch.rand(mask.shape, generator=g) < density
    for b in population.biases:
        b.copy_(torch.rand(b.shape, generator=g) - 0.2)
    population.apply_masks()
    return population


@pytest.mark.parametrize("name", ["snip", "synflow", "random", "imp", "lth", "rigl", "wanda"])
def test_repaired_runs_keep_exact_budgets_and_make_them_effective(name: str) -> None:
    cls = ALGORITHMS[f"{name}+repair"]
    population = Population.initialize(
        SIZES, list(range(5)), [0.1, 0.05, 0.2, 0.1, 0.1], ["cosine", "constant"] * 2 + ["cosine"]
    )
    session = CheckedSession(population, load_dataset("xor"), SGDConfig(epochs=1), engine="torch")
    hp = ["update_interval=10"] if name == "rigl" else []
    cls(parse_hparams(cls.Params, hp)).run(session, torch.tensor(TARGETS))
    assert population.weight_nnz().tolist() == TARGETS
    conn = connectivity(population.weight_masks)
    # A lone weight with no live pair left to fill stays where it was (at most one).
    assert conn.disconnected.max() <= 1 and conn.disconnected[3:].sum() == 0
    assert_masked_zero(population)


def test_a_repair_changes_no_output_and_keeps_the_counts() -> None:
    population = scrambled(0, 40, 0.35)
    before = connectivity(population.weight_masks)
    assert before.disconnected.sum() > 40  # the test has something to repair
    x = torch.as_tensor(load_dataset("cubist-spiral").x)
    out = population.forward(x).clone()
    grads = [
        torch.rand(w.shape, generator=torch.Generator().manual_seed(1)) for w in population.weights
    ]
    allowed = [torch.ones_like(m) for m in population.weight_masks]
    assert repair_population(population, allowed, grads)
    after = connectivity(population.weight_masks)
    assert after.weight_nnz.tolist() == before.weight_nnz.tolist()
    assert (after.disconnected <= 1).all()
    assert int((after.disconnected == 0).sum()) >= 30
    # A model keeps its lone disconnected weight only with no free live pair to move it to.
    forward, backward = live_neurons(after.effective_masks)
    for layer, mask in enumerate(population.weight_masks):
        free = ~mask & forward[layer].unsqueeze(1) & backward[layer + 1].unsqueeze(2)
        assert not free[after.disconnected == 1].any()
    torch.testing.assert_close(population.forward(x), out, atol=1e-5, rtol=0)
    assert not repair_population(scrambled(0, 1, 1.0), allowed, grads)  # dense: nothing


def test_momentum_is_zeroed_exactly_where_a_weight_came_or_went() -> None:
    population = scrambled(5, 8, 0.35)
    before = [m.clone() for m in population.weight_masks]
    momentum = [torch.full(w.shape, 7.0) for w in population.weights]
    grads = [torch.ones(w.shape) for w in population.weights]
    allowed = [torch.ones_like(m) for m in population.weight_masks]
    assert repair_population(population, allowed, grads, momentum)
    changed = 0
    for buffer, old, new in zip(momentum, before, population.weight_masks, strict=True):
        moved = old != new
        changed += int(moved.sum())
        assert (buffer[moved] == 0).all()  # a regrown weight starts without stale momentum
        assert (buffer[~moved] == 7.0).all()
    assert changed > 0


def test_a_model_is_repaired_alone_as_in_a_population() -> None:
    together = scrambled(3, 6, 0.4)
    g = torch.Generator().manual_seed(4)
    grads = [torch.randn(w.shape, generator=g) for w in together.weights]
    allowed = [torch.ones_like(m) for m in together.weight_masks]
    alone = together.clone()
    repair_population(together, allowed, grads)
    for k in range(6):
        one = alone.select([k])
        repair_population(one, [a[k : k + 1] for a in allowed], [g_[k : k + 1] for g_ in grads])
        for a, b in zip(together.weight_masks, one.weight_masks, strict=True):
            assert torch.equal(a[k], b[0])
        for a, b in zip(together.biases, one.biases, strict=True):
            assert torch.equal(a[k], b[0])


def test_hand_made_case_folds_a_constant_neuron_and_grows_a_live_pair() -> None:
    # 1 input -> 2 -> 1 output. Kept: in->h0, h0->out (live) and h1->out (h1 has no
    # input). The one free live pair is none, and reviving h1 takes two weights: the lone
    # disconnected weight stays.
    population = Population.initialize((1, 2, 1), [0], [0.1], ["cosine"])
    w0, w1 = population.weights
    w0.copy_(torch.tensor([[[1.0], [0.0]]]))
    w1.copy_(torch.tensor([[[2.0, 3.0]]]))
    population.biases[0].copy_(torch.tensor([[0.0, 0.5]]))
    population.biases[1].copy_(torch.tensor([[0.25]]))
    population.weight_masks[0].copy_(torch.tensor([[[True], [False]]]))
    population.weight_masks[1].copy_(torch.tensor([[[True, True]]]))
    allowed = [torch.ones_like(m) for m in population.weight_masks]
    grads = [torch.ones_like(w) for w in population.weights]
    repair_population(population, allowed, grads)
    assert population.weight_masks[1].tolist() == [[[True, True]]]
    # With a wider middle layer the budget goes to a live pair instead.
    population = Population.initialize((2, 2, 1), [0], [0.1], ["cosine"])
    population.weights[0].copy_(torch.tensor([[[1.0, 0.0], [0.0, 0.0]]]))
    population.weights[1].copy_(torch.tensor([[[2.0, 3.0]]]))
    population.biases[0].copy_(torch.tensor([[0.0, 0.5]]))
    population.biases[1].copy_(torch.tensor([[0.25]]))
    population.weight_masks[0].copy_(torch.tensor([[[True, False], [False, False]]]))
    population.weight_masks[1].copy_(torch.tensor([[[True, True]]]))
    x = torch.tensor([[0.3, -0.7], [1.0, 2.0]])
    out = population.forward(x).clone()
    grads = [torch.tensor([[[0.0, 5.0], [9.0, 9.0]]]), torch.zeros(1, 1, 2)]
    repair_population(population, allowed, [g.double() for g in grads])
    # h1 -> out removed (0.5 * 3 folded into the output bias), in1 -> h0 grown (the only
    # free live pair; h1's larger gradients are on a dead neuron).
    assert population.weight_masks[0].tolist() == [[[True, True], [False, False]]]
    assert population.weight_masks[1].tolist() == [[[True, False]]]
    assert float(population.biases[1][0, 0]) == pytest.approx(0.25 + 1.5)
    assert float(population.weights[0][0, 0, 1]) == 0.0
    torch.testing.assert_close(population.forward(x), out)


def test_the_registry_composes_name_plus_repair() -> None:
    assert "snip+repair" in ALGORITHMS and "nope+repair" not in ALGORITHMS
    assert "snip+repair+repair" not in ALGORITHMS and "snip+" not in ALGORITHMS
    cls = ALGORITHMS["lth+repair"]
    assert cls.name == "lth+repair" and cls.Params is ALGORITHMS["lth"].Params
    assert "Vysogorets" in cls.paper and ALGORITHMS.origin("lth+repair") == "built-in"
    assert cls(cls.Params()).training_epochs(10) == 50  # type: ignore[attr-defined]


def test_the_registry_lists_the_same_names_whatever_was_looked_up_before() -> None:
    """Iterating (what `all`, `sparsest algorithms` and the TUI list) gives the built-ins
    and plug-ins only: a NAME+repair looked up earlier in the process is not listed, so
    a spec's `algorithms = ["all"]` means the same in every process."""
    from harness.sweeps.spec_file import parse_spec

    ALGORITHMS.reload()
    before = list(ALGORITHMS)
    all_spec = '[prune]\nalgorithms = ["all"]\nwidths = [3]\nnnz = [10]\n'
    assert parse_spec(all_spec).prune.algorithms == tuple(before)
    assert ALGORITHMS["synflow+repair"] is ALGORITHMS["synflow+repair"]  # cached
    assert ALGORITHMS.origin("imp+repair") == "built-in"  # composed by the question
    assert list(ALGORITHMS) == before and len(ALGORITHMS) == len(before)
    assert not any(name.endswith("+repair") for name in before)
    assert parse_spec(all_spec).prune.algorithms == tuple(before)
    ALGORITHMS.reload()


def test_specs_and_the_prune_command_take_name_plus_repair() -> None:
    from harness.cli.main import app
    from harness.sweeps.spec_file import parse_spec

    spec = parse_spec('[prune]\nalgorithms = ["grasp+repair"]\nwidths = [3]\nnnz = [10]\n')
    assert spec.prune.algorithms == ("grasp+repair",)
    args = ["prune", "--algorithm", "force+repair,force", "--width", "4", "--nnz", "6"]
    args += ["--epochs", "1", "--lrs", "0.1", "--schedules", "constant", "--engine", "torch"]
    result = CliRunner().invoke(app, [*args, "--dataset", "xor", "--json"])
    assert result.exit_code == 0, result.output
    rows = {r["algorithm"]: r for r in json.loads(result.output)}
    assert rows.keys() == {"force+repair", "force"}
    assert rows["force+repair"]["achieved_nnz"] == 6 == rows["force"]["achieved_nnz"]
    assert rows["force+repair"]["effective_nnz"] >= rows["force"]["effective_nnz"]
