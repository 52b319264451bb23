"""Initial networks as the paper's reference code makes them: the search's random init
is a fresh 2-16-16-16-1 nn.Linear network per run, cut to the structure; the paper's
fixed networks ship with the package, load with their documented checksums, and the
paper-fixed-init preset cuts its runs from them."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from importlib import resources

import numpy as np
import pytest
import torch

from harness.errors import UserError
from harness.search.config import Grid, Phase1Config, Phase2Config
from harness.search.phases import phase1_runs, phase1_units, phase2_units
from harness.sweeps.plan import Found, flatten, plan_part
from harness.sweeps.spec_file import load_spec, parse_spec
from harness.training.datasets import load_split
from harness.training.initialisation import fixed_network, load_network, paper_network
from harness.training.reference import build_mlp
from harness.training.unit import WorkUnit, build_population, train_unit

GRID = Grid(lrs=(0.1,), schedules=("cosine",), seeds=2, epochs=1)
DOCUMENTED = {"paper-95": "344abfbc8f89786c", "paper-995": "14d8e72544ff84c3"}


def linears(sizes: tuple[int, ...], seed: int) -> list[torch.nn.Linear]:
    return [m for m in build_mlp(sizes, seed) if isinstance(m, torch.nn.Linear)]


def assert_cut(unit: WorkUnit, k: int, weights: list[torch.Tensor], biases: list[torch.Tensor]):  # type: ignore[no-untyped-def]
    """Model k of the unit's population starts as `weights`/`biases` cut to its widths
    (and masked by its run's mask), with zero padding."""
    run = unit.runs[k]
    population = build_population(replace(unit, runs=(run,)))
    sizes = (2, *run.spec.widths, 1)
    for layer, (i, o) in enumerate(zip(sizes[:-1], sizes[1:], strict=False)):
        mask = population.weight_masks[layer][0, :o, :i]
        got = population.weights[layer][0]
        assert torch.equal(got[:o, :i], weights[layer][:o, :i] * mask)
        padding = got.clone()
        padding[:o, :i] = 0
        assert not padding.any()
        if run.spec.mask is None:
            assert torch.equal(population.biases[layer][0, :o], biases[layer][:o])


def test_the_search_draws_a_16_wide_network_per_run_and_cuts_it() -> None:
    config = Phase1Config(max_width=8, grid=GRID)
    units = phase1_units(config, "xor", 4096)
    for unit in units:
        for k, run in enumerate(unit.runs):
            if run.spec.widths not in {(3, 1, 5), (8, 2, 3), (1, 1, 1)}:
                continue
            assert ("init_width", "16") in run.spec.hparams
            full = linears((2, 16, 16, 16, 1), run.init_seed)
            assert_cut(unit, k, [m.weight.detach() for m in full], [m.bias.detach() for m in full])
    masked = phase2_units(Phase2Config(structure=(3, 3, 3), grid=GRID), "xor", 64)[0]
    for k in (0, 17, 63):
        full = linears((2, 16, 16, 16, 1), masked.runs[k].init_seed)
        assert_cut(masked, k, [m.weight.detach() for m in full], [m.bias.detach() for m in full])


def test_a_search_wider_than_16_cuts_from_its_widest_structure() -> None:
    unit = phase1_units(Phase1Config(max_width=20, grid=GRID), "xor", 1)[-1]
    run = unit.runs[0]
    assert run.spec.widths == (20, 20, 20) and ("init_width", "20") in run.spec.hparams
    full = linears((2, 20, 20, 20, 1), run.init_seed)
    assert_cut(unit, 0, [m.weight.detach() for m in full], [m.bias.detach() for m in full])


def test_random_own_width_is_kept_and_named_apart() -> None:
    own = Phase1Config(max_width=4, init_mode="random-own-width", grid=GRID)
    unit = next(u for u in phase1_units(own, "xor", 4096) if u.layer_sizes == (2, 4, 4, 4, 1))
    k = next(i for i, r in enumerate(unit.runs) if r.spec.widths == (3, 3, 3))
    small = linears((2, 3, 3, 3, 1), unit.runs[k].init_seed)
    assert_cut(unit, k, [m.weight.detach() for m in small], [m.bias.detach() for m in small])
    assert unit.cut_width == 0
    reference = {r.spec.widths: r.run_key for r in phase1_runs(replace_init(own, "random"), "x")}
    for run in phase1_runs(own, "x"):
        assert run.run_key != reference[run.spec.widths]  # the key tells them apart
        assert run.spec.init_mode == "random-own-width" and run.spec.hparams == ()


def replace_init(config: Phase1Config, mode: str) -> Phase1Config:
    return replace(config, init_mode=mode)


@pytest.mark.parametrize("name", ["paper-95", "paper-995"])
def test_the_paper_networks_ship_with_their_documented_checksums(name: str) -> None:
    path = resources.files("harness.training.networks") / f"{name}.npz"
    with resources.as_file(path) as file, np.load(file) as data:
        arrays = {key: data[key] for key in data.files}
    digest = hashlib.sha256(b"".join(arrays[k].tobytes() for k in sorted(arrays)))
    assert digest.hexdigest()[:16] == DOCUMENTED[name]
    weights, biases = paper_network(name)
    assert [tuple(w.shape) for w in weights] == [(16, 2), (16, 16), (16, 16), (1, 16)]
    for n, (w, b) in enumerate(zip(weights, biases, strict=True), start=1):
        assert np.array_equal(w.numpy(), arrays[f"w{n}"]) and np.array_equal(
            b.numpy(), arrays[f"b{n}"]
        )


def test_the_paper_fixed_init_preset_cuts_from_the_paper_networks() -> None:
    parts = {p.name: p for p in flatten(load_spec("paper-fixed-init"))}
    for study, network in (
        ("paper-fixed-init-95", "paper-95"),
        ("paper-fixed-init-995", "paper-995"),
    ):
        part = parts[study]
        weights, biases = paper_network(network)
        phase1 = plan_part(part).stages[0]
        unit = phase1.units[-1]
        for k in (0, len(unit.runs) - 1):
            assert ("fixed_network", f'"{network}"') in unit.runs[k].spec.hparams
            assert_cut(unit, k, weights, biases)
        pruning = plan_part(part, Found({part.targets[0]: (3, 2, 4)}, {part.targets[0]: 5}))
        unit = pruning.stages[0].units[0]
        assert unit.runs[0].spec.widths == (3, 2, 4) and unit.fixed_network == network
        population = build_population(unit)
        for layer, w in enumerate(weights):
            o, i = population.weights[layer].shape[1:]
            assert torch.equal(population.weights[layer][0], w[:o, :i])


def test_a_fixed_network_from_a_file_is_named_by_its_checksum(tmp_path) -> None:  # type: ignore[no-untyped-def]
    weights, biases = paper_network("paper-995")
    path = tmp_path / "mine.npz"
    np.savez(path, **{f"w{n}": w.numpy() for n, w in enumerate(weights, 1)},
             **{f"b{n}": b.numpy() for n, b in enumerate(biases, 1)})  # fmt: skip
    from_file = phase1_runs(
        Phase1Config(max_width=2, init_mode="fixed", grid=GRID, fixed_network=str(path)), "x"
    )
    assert dict(from_file[0].spec.hparams)["fixed_network"] == '"sha256:14d8e72544ff84c3"'
    record = train_unit(
        WorkUnit("file", "xor", (2, 2, 2, 2, 1), 1, from_file[:1], fixed_network=str(path)),
        load_split("xor"),
    )[0]
    assert json.loads(record.hparams) == {
        "fixed_network": "sha256:14d8e72544ff84c3",
    }
    assert all(
        torch.equal(a, b) for a, b in zip(load_network(str(path), 16, 3)[0], weights, strict=True)
    )
    with pytest.raises(UserError, match="cannot read network"):
        parse_spec("[search]\ninit = 'fixed'\nfixed_network = 'missing.npz'\n")


def test_a_part_over_several_fixed_networks_runs_once_per_network() -> None:
    text = (
        "name = 'luck'\nepochs = 1\nlrs = [0.1]\nschedules = ['cosine']\n[search]\n"
        "init = 'fixed'\nmax_width = 2\nphase2 = false\nlrs = [0.1]\n"
    )
    parts = flatten(parse_spec(text + "fixed_networks = ['paper-95', 0, 1]\n"))
    assert [p.name for p in parts] == ["luck [paper-95]", "luck [0]", "luck [1]"]
    units = [plan_part(p).stages[0].units[0] for p in parts]
    assert [u.fixed_network for u in units] == ["paper-95", "0", "1"]
    keys = [set(u.keys) for u in units]
    assert not (keys[0] & keys[1]) and not (keys[1] & keys[2])  # three studies
    seeded = build_population(replace(units[1], runs=units[1].runs[:1]))
    assert torch.equal(seeded.weights[0][0, :1, :2], fixed_network(2, 3, 0)[0][0][:1, :2])
    for bad, message in (
        ("fixed_networks = []\n", "at least one"),
        ("fixed_networks = ['paper-95']\nfixed_network = 'paper-95'\n", "not both"),
    ):
        with pytest.raises(UserError, match=message):
            parse_spec(text + bad)
    with pytest.raises(UserError, match="goes with init"):
        parse_spec(text.replace("'fixed'", "'random'") + "fixed_networks = [0]\n")
