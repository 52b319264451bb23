"""Pruning grids: expansion, grouping, fixed init, records, resuming, divergence, commands."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
import typer
from typer.testing import CliRunner

from algorithms.registry import BUILT_INS
from harness.cli.prune import register
from harness.errors import UserError
from harness.sweeps import executors
from harness.sweeps.executors import LocalExecutor
from harness.sweeps.prune_runs import PruneGrid, expand_grid, hparams_from_items, prune_units
from harness.sweeps.result_sink import MemorySink
from harness.sweeps.stages import pending, train_units
from harness.training.initialisation import fixed_network, sub_network
from harness.training.population import default_linear_init
from harness.training.session import TrainingSession
from harness.training.unit import build_population
from store.records import RunRecord


def small_grid(hp=("pruning_events=5",), **changes) -> PruneGrid:  # type: ignore[no-untyped-def]
    base = dict(
        algorithms=("imp",),
        widths=((3, 3, 3),),
        nnz=(10, 20),
        lrs=(0.1,),
        schedules=("cosine",),
        epochs=1,
        dataset="xor",
    )
    merged = {**base, **changes}
    merged["params"] = hparams_from_items(merged["algorithms"], hp, merged.get("init", "random"))
    return PruneGrid(**merged)


def run_grid(grid, sink=None, population_size=512, progress=None) -> list[RunRecord]:  # type: ignore[no-untyped-def]
    """Train the grid's missing runs into `sink` (a MemorySink by default)."""
    sink = sink if sink is not None else MemorySink()
    left = pending(prune_units(grid, population_size, strict=True), sink)
    return train_units(left, LocalExecutor("cpu", "torch"), sink, progress)


def fixed_init(hidden, seed):  # type: ignore[no-untyped-def]
    return sub_network(fixed_network(16, len(hidden), seed), hidden)


def test_expansion_skips_targets_a_width_cannot_take() -> None:
    grid = small_grid(
        algorithms=("imp", "rigl"),
        widths=((3, 3, 3), (5, 5, 5)),
        nnz=(4, 26, 27, 64),
        lrs=(0.05, 0.1),
        schedules=("cosine", "constant"),
        seeds=2,
        hp=("imp.pruning_events=5",),
    )
    runs = expand_grid(grid)
    # width 3 (27 weights) takes 4 and 26; width 5 (65 weights) takes all four.
    assert len(runs) == 2 * 2 * 2 * 2 * (2 + 4)
    assert len({r.run_key for r in runs}) == len(runs)
    assert {r.spec.target_weight_nnz for r in runs if r.spec.widths == (3, 3, 3)} == {4, 26}
    assert {r.spec.hparams for r in runs if r.spec.algorithm == "imp"} == {
        (("pruning_events", "5"),)
    }
    assert {r.spec.hparams for r in runs if r.spec.algorithm == "rigl"} == {()}
    assert all(r.spec.kind == "prune" and r.init_seed == r.spec.seed for r in runs)
    assert expand_grid(grid)[7].run_key == runs[7].run_key  # stable


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"algorithms": ("imp", "nope")}, "unknown algorithm 'nope'; choose from: imp"),
        ({"nnz": (27,)}, r"outside \[4, 26\]"),
        ({"nnz": (3, 10)}, r"target weight nnz 3 is outside"),
        ({"widths": ((3, 0, 3),)}, "at least 1"),
        ({"hp": ("pruning_evnts=3",)}, "no selected algorithm has 'pruning_evnts'"),
        ({"hp": ("pruning_events=x",)}, "cannot read 'x' as int"),
        ({"init": "fixed", "widths": ((17, 17, 17),)}, "16-wide"),
        ({"schedules": ("linear",)}, "unknown schedule"),
    ],
)
def test_bad_requests_are_one_line_user_errors(changes: dict, message: str) -> None:
    with pytest.raises(UserError, match=message) as error:
        expand_grid(small_grid(**changes))
    assert "\n" not in str(error.value)


def test_non_strict_expansion_skips_silently() -> None:
    assert expand_grid(small_grid(nnz=(3, 27, 10)), strict=False)[0].spec.target_weight_nnz == 10
    assert expand_grid(small_grid(nnz=(27,)), strict=False) == []


def test_grouping_by_algorithm_and_width_in_bounded_populations() -> None:
    grid = small_grid(
        algorithms=("imp", "random"),
        widths=((3, 3, 3), (4, 4, 4)),
        lrs=(0.05, 0.1, 0.2),
        seeds=3,
        hp=(),
    )
    runs = expand_grid(grid)
    groups = [unit.runs for unit in prune_units(grid, population=5)]
    assert sum(len(g) for g in groups) == len(runs) == 2 * 2 * 3 * 3 * 2
    for group in groups:
        assert len(group) <= 5
        assert len({(r.spec.algorithm, r.spec.widths) for r in group}) == 1
    assert len(groups) == 4 * math.ceil(18 / 5)


def test_fixed_init_is_the_first_neurons_of_the_seeded_16_wide_network() -> None:
    weights, biases = fixed_init((3, 2, 4), seed=7)
    base_w, base_b = default_linear_init((2, 16, 16, 16, 1), 7)
    assert torch.equal(weights[0], base_w[0][:3, :2]) and torch.equal(weights[1], base_w[1][:2, :3])
    assert torch.equal(weights[3], base_w[3][:1, :4]) and torch.equal(biases[2], base_b[2][:4])
    grid = small_grid(init="fixed", widths=((3, 2, 4),), fixed_init_seed=7, seeds=2, lrs=(0.1, 0.2))
    runs = expand_grid(grid)
    assert {r.init_seed for r in runs} == {7} and {r.spec.seed for r in runs} == {0, 1}
    assert all(("fixed_init_seed", "7") in r.spec.hparams for r in runs)
    assert all(("fixed_width", "16") in r.spec.hparams for r in runs)
    population = build_population(prune_units(grid, 512)[0])
    for k in range(population.size):
        for layer in range(4):
            assert torch.equal(population.weights[layer][k], weights[layer])
    assert population.data_seed.tolist() == [r.spec.seed for r in runs]


def test_fixed_init_runs_keep_the_init_unless_xavier_reinit_is_asked_for(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def reinit(grid: PruneGrid) -> dict[str, bool]:
        return {n: grid.params_of(n).xavier_reinit for n in grid.algorithms if n != "imp"}  # type: ignore[attr-defined]

    fixed_grid = small_grid(algorithms=("snip", "grasp", "imp"), init="fixed", hp=())
    fixed = expand_grid(fixed_grid)
    assert reinit(fixed_grid) == {"snip": False, "grasp": False}
    for r in fixed:
        has = ("xavier_reinit", "false") in r.spec.hparams
        assert has == (r.spec.algorithm != "imp")
    asked_grid = small_grid(
        algorithms=("snip", "grasp"), init="fixed", hp=("snip.xavier_reinit=1",)
    )
    asked = expand_grid(asked_grid)
    assert reinit(asked_grid) == {"snip": True, "grasp": False}
    assert all(
        ("xavier_reinit", "false") not in r.spec.hparams
        for r in asked
        if r.spec.algorithm == "snip"
    )
    everywhere = small_grid(algorithms=("snip", "grasp"), init="fixed", hp=("xavier_reinit=true",))
    assert reinit(everywhere) == {"snip": True, "grasp": True}
    random_grid = small_grid(algorithms=("snip", "grasp"), hp=())
    random_init = expand_grid(random_grid)
    assert reinit(random_grid) == {"snip": True, "grasp": True}
    assert {r.spec.hparams for r in random_init} == {()}
    snip_keys = [{r.run_key for r in runs if r.spec.algorithm == "snip"} for runs in (fixed, asked)]
    assert not snip_keys[0] & snip_keys[1]

    # end to end, training off: the kept weights are the fixed init's
    monkeypatch.setattr(TrainingSession, "train", lambda self, *args, **kwargs: None)
    grid = small_grid(algorithms=("snip", "grasp"), init="fixed", fixed_init_seed=5, hp=())
    weights, _ = fixed_init((3, 3, 3), 5)
    for record in run_grid(grid):
        bits = np.unpackbits(np.frombuffer(record.mask, dtype=np.uint8))
        flat = np.frombuffer(record.weights, dtype=np.float32)
        at = bit = 0
        for w in weights:
            out, inp = w.shape
            kept = bits[bit : bit + out * inp].reshape(out, inp).astype(bool)
            got = flat[at : at + out * inp].reshape(out, inp)
            np.testing.assert_array_equal(got[kept], w.numpy()[kept])
            bit += out * inp
            at += out * inp + out


def test_random_masks_repeat_per_run_key_however_runs_are_grouped() -> None:
    grid = small_grid(algorithms=("random", "rigl"), nnz=(6, 20), lrs=(0.1, 0.2), seeds=2, hp=())
    together = {r.run_key: r.mask for r in run_grid(grid)}
    apart = {r.run_key: r.mask for r in run_grid(grid, population_size=1)}
    assert len(together) == 16 and together == apart
    assert len({together[k] for k in together}) > 4


def test_records_are_complete_and_a_rerun_skips_what_is_done() -> None:
    sink = MemorySink()
    events = []
    grid = small_grid(algorithms=("imp", "magnitude-after"), nnz=(5, 20))
    records = run_grid(grid, sink, progress=events.append)
    assert len(records) == 4 == len(sink.records)
    assert events[-1] == 4
    for r in records:
        assert r.weight_nnz == r.target_weight_nnz
        assert 0 <= r.effective_nnz <= r.weight_nnz
        assert len(r.dead_neurons) == 3 and r.kind == "prune" and r.init_mode == "random"
        bits = np.unpackbits(np.frombuffer(r.mask, dtype=np.uint8))[:27]
        assert int(bits.sum()) == r.weight_nnz
        assert len(r.weights) == 4 * (27 + 3 + 3 + 3 + 1)
        assert r.model_nnz >= r.weight_nnz + 1
        assert not r.diverged and 0 <= r.accuracy <= 1
    assert run_grid(grid, sink) == []
    bigger = run_grid(small_grid(algorithms=("imp", "magnitude-after"), nnz=(5, 20, 26)), sink)
    assert [r.target_weight_nnz for r in bigger] == [26, 26]


def test_weights_are_kept_only_up_to_width_16() -> None:
    records = run_grid(small_grid(widths=((17, 1, 1),), nnz=(5,), hp=()))
    assert records[0].weights is None and records[0].mask is not None


def test_diverging_models_finish_flagged_and_leave_the_others_unchanged() -> None:
    # lr 5.0 collapses these ReLU nets to a constant output (finite, loss ~ ln 2, so not
    # flagged); lr 1000 overflows to NaN. The lr 0.1 and 0.2 models must not notice either.
    grid = small_grid(widths=((4, 4, 4),), nnz=(12, 30), lrs=(0.1, 5.0, 1000.0, 0.2), epochs=2)
    mixed = {r.run_key: r for r in run_grid(grid)}
    alone_grid = small_grid(widths=((4, 4, 4),), nnz=(12, 30), lrs=(0.1, 0.2), epochs=2)
    clean = {r.run_key: r for r in run_grid(alone_grid)}
    assert len(mixed) == 8 and len(clean) == 4
    assert max(r.accuracy for r in clean.values()) > 0.9
    blown = [r for r in mixed.values() if r.lr == 1000.0]
    assert blown and all(r.diverged and math.isnan(r.final_loss) for r in blown)
    assert all(r.weight_nnz == r.target_weight_nnz for r in mixed.values())
    for key, alone in clean.items():
        together = mixed[key]
        assert not together.diverged
        assert together.mask == alone.mask
        np.testing.assert_allclose(
            np.frombuffer(together.weights, np.float32),
            np.frombuffer(alone.weights, np.float32),
            atol=1e-5,
        )
        assert together.accuracy == pytest.approx(alone.accuracy, abs=1e-3)
        assert together.effective_nnz == alone.effective_nnz


def cli() -> typer.Typer:
    app = typer.Typer()
    register(app)
    return app


FAST = [
    "--epochs",
    "1",
    "--lrs",
    "0.1",
    "--schedules",
    "cosine",
    "--dataset",
    "xor",
    "--engine",
    "torch",
    "--device",
    "cpu",
]


def test_prune_command_prints_json_rows_and_a_table() -> None:
    runner = CliRunner()
    result = runner.invoke(
        cli(),
        [
            "prune",
            "--algorithm",
            "imp,random",
            "--width",
            "3",
            "--nnz",
            "10,20",
            "--hp",
            "imp.pruning_events=5",
            "--json",
            *FAST,
        ],
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert len(rows) == 4
    keys = {
        "algorithm",
        "width",
        "target_nnz",
        "achieved_nnz",
        "effective_nnz",
        "accuracy",
        "diverged",
    }
    assert all(keys <= row.keys() for row in rows)
    assert all(row["achieved_nnz"] == row["target_nnz"] for row in rows)
    table = runner.invoke(
        cli(),
        ["prune", "--algorithm", "imp", "--width", "3", "--nnz", "10", *FAST],
        env={"COLUMNS": "120"},
    )
    assert table.exit_code == 0, table.output
    assert "effective" in table.output and "imp" in table.output


@pytest.mark.parametrize(
    "args, message",
    [
        (["--algorithm", "nope", "--width", "3", "--nnz", "10"], "unknown algorithm 'nope'"),
        (["--algorithm", "imp", "--width", "3", "--nnz", "27"], "outside"),
        (["--algorithm", "imp", "--width", "3", "--nnz", "2"], "outside"),
        (["--algorithm", "imp", "--width", "0", "--nnz", "10"], "at least 1"),
        (["--algorithm", "imp", "--width", "3", "--nnz", "10", "--hp", "bad=1"], "bad"),
    ],
)
def test_prune_command_bad_input(args: list[str], message: str) -> None:
    result = CliRunner().invoke(cli(), ["prune", *args, *FAST])
    assert isinstance(result.exception, UserError)
    assert message in str(result.exception) and "\n" not in str(result.exception)


def test_algorithms_command_lists_names_papers_and_hyper_parameters() -> None:
    result = CliRunner().invoke(cli(), ["algorithms", "--json"])
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in json.loads(result.output)}
    assert list(rows) == list(BUILT_INS) and {"imp", "lth", "rigl", "wanda"} <= rows.keys()
    assert "Frankle" in rows["lth"]["paper"] and rows["imp"]["summary"]
    assert [p["name"] for p in rows["rigl"]["hparams"]][:2] == ["update_interval", "drop_fraction"]
    table = CliRunner().invoke(cli(), ["algorithms"])
    assert table.exit_code == 0 and "magnitude-after" in table.output


def test_prune_command_with_a_store_resumes_and_prints_every_run(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    trained = []
    real = executors.train_unit

    def counting(unit, *args, **kwargs):  # type: ignore[no-untyped-def]
        trained.append(len(unit.runs))
        return real(unit, *args, **kwargs)

    monkeypatch.setattr(executors, "train_unit", counting)
    db = str(tmp_path / "runs.duckdb")
    args = ["prune", "--algorithm", "imp", "--width", "3", "--hp", "pruning_events=5", "--json"]
    first = CliRunner().invoke(cli(), [*args, "--nnz", "10", "--db", db, *FAST])
    assert first.exit_code == 0, first.output
    again = CliRunner().invoke(cli(), [*args, "--nnz", "10,20", "--db", db, *FAST])
    assert again.exit_code == 0, again.output
    assert trained == [1, 1]  # the second run trained only the new target
    rows = json.loads(again.output)
    assert [r["target_nnz"] for r in rows] == [10, 20]
    assert rows[0]["run_key"] == json.loads(first.output)[0]["run_key"]
