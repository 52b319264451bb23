"""The search: selection rules on synthetic runs, tiny end-to-end phases on `xor`,
resumption, fixed-init sub-networks, batch invariance and the `search` command."""

import itertools
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import typer
from typer.testing import CliRunner

from harness.cli.search import register
from harness.errors import UserError
from harness.search.config import Grid, Phase1Config, Phase2Config
from harness.search.masks import count_layer_masks, unpack_network_mask
from harness.search.phases import (
    phase1_runs,
    phase2_masks,
    phase2_runs,
    plan_phase1,
    plan_phase2,
)
from harness.search.selection import frontier, minimal_structures, pareto_curve
from harness.sweeps.executors import LocalExecutor
from harness.sweeps.result_sink import MemorySink
from harness.sweeps.stages import SearchContext, run_phase1, run_phase2
from harness.training.datasets import load_split
from harness.training.initialisation import fixed_network, sub_network
from harness.training.reference import build_mlp
from harness.training.unit import WorkUnit, build_population, train_unit
from store.records import RunRecord

EXECUTOR = LocalExecutor("cpu", "torch")


def context(sink, targets, log=lambda _: None, progress=None) -> SearchContext:  # type: ignore[no-untyped-def]
    return SearchContext(EXECUTOR, sink, "xor", 64, targets, log, progress, calibrate_steps=0)


def unit(sizes, runs, epochs=1) -> WorkUnit:  # type: ignore[no-untyped-def]
    return WorkUnit("test", "xor", sizes, epochs, tuple(runs), fixed_width=16)


TINY = Grid(lrs=(0.1,), schedules=("constant", "cosine"), seeds=1, epochs=1)


def record(key: str, widths=(3, 3, 3), accuracy=0.9, weight_nnz=10, model_nnz=20, seed=0,
           mask=None, diverged=False, lr=0.1, schedule="cosine") -> RunRecord:  # fmt: skip
    return RunRecord(
        run_key=key, kind="search-phase2", algorithm="mask", dataset="xor", widths=widths,
        init_mode="random", seed=seed, lr=lr, schedule=schedule, epochs=1,
        target_weight_nnz=None, weight_nnz=weight_nnz, model_nnz=model_nnz,
        effective_nnz=weight_nnz, dead_neurons=(0,) * len(widths), accuracy=accuracy,
        final_loss=0.1, diverged=diverged, device="cpu", wall_seconds=0.0, mask=mask,
    )  # fmt: skip


def dense_params(widths: tuple[int, ...]) -> tuple[int, int]:
    sizes = (2, *widths, 1)
    weights = sum(i * o for i, o in itertools.pairwise(sizes))
    return weights, weights + sum(sizes[1:])


# ---- selection -------------------------------------------------------------------------


def test_minimal_structure_is_fewest_params_then_fewest_neurons() -> None:
    runs = [
        record("a1", (2, 2, 2), 0.96, model_nnz=20),
        record("a2", (2, 2, 2), 0.951, model_nnz=20, lr=0.05),
        record("b", (1, 1, 5), 0.99, model_nnz=20),  # same params, more neurons
        record("c", (1, 1, 1), 0.94, model_nnz=7),  # fewer params, misses 0.95
        record("d", (1, 1, 1), 1.0, model_nnz=7, diverged=True),  # diverged never counts
        record("e", (4, 4, 4), 0.996, model_nnz=60),
        record("f", (3, 3, 3), 0.95, model_nnz=40),  # exactly the target reaches it
    ]
    found = minimal_structures(runs, (0.95, 0.995, 0.999))
    assert [m.run.run_key if m.run else None for m in found] == ["a1", "e", None]
    first = found[0].as_json()
    assert first == {
        "target": 0.95, "structure": [2, 2, 2], "params": 20, "weight_nnz": 10,
        "accuracy": 0.96, "lr": 0.1, "schedule": "cosine", "seed": 0,
    }  # fmt: skip
    assert minimal_structures(runs[-1:], (0.95,))[0].run.run_key == "f"
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        minimal_structures(runs, (1.5,))


def test_frontier_counts_seeds_and_the_pareto_curve_keeps_improvements() -> None:
    m1, m2, m3 = b"\x01", b"\x02", b"\x03"
    runs = [
        record("k1", accuracy=0.96, weight_nnz=12, seed=0, mask=m1),
        record("k2", accuracy=0.90, weight_nnz=12, seed=1, mask=m1),
        record("k3", accuracy=0.97, weight_nnz=12, seed=2, mask=m1),
        record("k4", accuracy=0.955, weight_nnz=12, model_nnz=19, seed=0, mask=m2),
        record("k5", accuracy=0.999, weight_nnz=15, seed=0, mask=m3),
        record("k6", accuracy=0.80, weight_nnz=9, seed=0, mask=b"\x04"),
        record("k7", accuracy=0.99, weight_nnz=9, diverged=True, mask=b"\x04"),
    ]
    points = frontier(runs, (0.95, 0.995, 0.9999))
    assert points[0].run.run_key == "k4"  # 12 weights, fewer model nnz wins the tie
    assert (points[0].seeds_reached, points[0].seeds) == (1, 1)
    assert points[1].run.run_key == "k5" and points[2].run is None
    without_m2 = frontier([r for r in runs if r.mask != m2], (0.95,))[0]
    assert without_m2.run.run_key == "k3"  # same nnz: the better accuracy
    assert (without_m2.seeds_reached, without_m2.seeds) == (2, 3)
    assert without_m2.as_json()["mask"] == "01"
    curve = pareto_curve(runs)
    assert [(p.weight_nnz, p.accuracy, p.on_frontier) for p in curve] == [
        (9, 0.80, True), (12, 0.97, True), (15, 0.999, True),
    ]  # fmt: skip
    assert not pareto_curve([*runs, record("k8", accuracy=0.5, weight_nnz=20)])[-1].on_frontier


# ---- phases end to end -----------------------------------------------------------------


def test_phase1_trains_every_structure_and_picks_the_minimum() -> None:
    config = Phase1Config(max_width=2, grid=TINY)
    assert plan_phase1(config).trainings == 8 * 2
    messages, ticks = [], []
    sink = MemorySink()
    result = run_phase1(config, context(sink, (0.5, 0.9), messages.append, ticks.append))
    assert len(result.records) == len(sink.runs) == 16
    assert "16 trainings" in messages[0] and "16 to train" in messages[0]
    assert ticks[-1] == 16
    for r in result.records:
        assert (r.weight_nnz, r.model_nnz) == dense_params(r.widths)
        assert r.kind == "search-phase1" and r.algorithm == "dense" and r.mask is None
        assert len(r.weights) == 4 * r.model_nnz
        assert r.dead_neurons == (0, 0, 0) and 0 <= r.accuracy <= 1
    best: dict[tuple[int, ...], float] = {}
    for r in result.records:
        best[r.widths] = max(best.get(r.widths, 0.0), r.accuracy)
    target = sorted(best.values())[4]
    expected = min(
        (w for w, acc in best.items() if acc >= target),
        key=lambda w: (dense_params(w)[1], sum(w), w),
    )
    chosen = minimal_structures(result.records, (target,))[0]
    assert chosen.run.widths == expected and chosen.run.accuracy == best[expected]
    assert result.minimal[0].run.widths == (1, 1, 1)  # chance level: the smallest


def test_phase2_resumes_and_skips_done_runs() -> None:
    config = Phase2Config(structure=(2, 2), grid=TINY)
    masks = count_layer_masks(2, 2) ** 2
    assert plan_phase2(config).trainings == masks * 2
    full = run_phase2(config, context(MemorySink(), (0.5,)))
    assert len(full.records) == masks * 2
    for r in full.records:
        assert r.kind == "search-phase2" and r.algorithm == "mask" and r.mask is not None
        assert r.model_nnz == r.weight_nnz + 2 + 2 + 1  # every hidden bias kept
        assert r.effective_nnz == r.weight_nnz

    class Counting(MemorySink):
        written = 0

        def write_runs(self, records):  # type: ignore[no-untyped-def]
            self.written += len(records)
            super().write_runs(records)

    sink = Counting()
    sink.runs.update((r.run_key, r) for r in full.records[::2])
    messages: list[str] = []
    resumed = run_phase2(config, context(sink, (0.5,), messages.append))
    assert sink.written == len(full.records) - len(full.records[::2])
    assert f"{len(full.records[::2])} already done" in messages[0]
    by_key = {r.run_key: r for r in full.records}
    for r in resumed.records:
        assert r.accuracy == by_key[r.run_key].accuracy  # deterministic
        assert r.weights == by_key[r.run_key].weights
    assert [p.run.run_key for p in resumed.frontier] == [p.run.run_key for p in full.frontier]
    again = Counting()
    again.runs.update(sink.runs)
    run_phase2(config, context(again, (0.5,)))
    assert again.written == 0


def test_fixed_init_cuts_the_first_neurons_of_one_wide_network() -> None:
    full = [m for m in build_mlp((2, 16, 16, 16, 1), 7) if isinstance(m, torch.nn.Linear)]
    weights, biases = fixed_network(16, 3, 7)
    for layer, linear in enumerate(full):
        assert torch.equal(weights[layer], linear.weight) and torch.equal(
            biases[layer], linear.bias
        )
    ws, bs = sub_network((weights, biases), (3, 1, 5))
    assert torch.equal(ws[0], full[0].weight[:3, :2]) and torch.equal(ws[1], full[1].weight[:1, :3])
    assert torch.equal(ws[3], full[3].weight[:, :5]) and torch.equal(bs[2], full[2].bias[:5])

    config = Phase1Config(max_width=16, init_mode="fixed", grid=replace(TINY, seeds=8))
    run = next(
        r for r in phase1_runs(config, "xor") if r.spec.widths == (3, 1, 5) and r.spec.seed == 7
    )
    population = build_population(unit((2, 4, 4, 8, 1), [run]))
    for layer, (w, b) in enumerate(zip(ws, bs, strict=True)):
        o, i = w.shape
        assert torch.equal(population.weights[layer][0, :o, :i], w)
        assert torch.equal(population.biases[layer][0, :o], b)
        assert population.weights[layer][0].abs().sum() == w.abs().sum()  # padding is zero

    phase2 = Phase2Config(structure=(3, 3, 3), init_mode="fixed", grid=replace(TINY, seeds=8))
    mask_set = phase2_masks(phase2)
    runs = [r for r in phase2_runs(phase2, mask_set, "xor", [0, 999, 25_991]) if r.spec.seed == 7]
    sizes = (2, 3, 3, 3, 1)
    unpacked = [unpack_network_mask(bytes.fromhex(r.spec.mask), sizes) for r in runs]
    masks = [np.stack([m[layer] for m in unpacked]) for layer in range(4)]
    population = build_population(unit(sizes, runs))
    for layer, linear in enumerate(full):
        o, i = population.weights[layer].shape[1:]
        cut = linear.weight[:o, :i].detach()
        for k in range(len(runs)):
            assert torch.equal(
                population.weights[layer][k], cut * torch.from_numpy(masks[layer][k])
            )


def test_random_init_is_shared_across_the_grid_and_not_across_masks() -> None:
    config = Phase2Config(structure=(3, 3, 3), grid=Grid(seeds=2))
    runs = phase2_runs(config, phase2_masks(config), "xor", [0, 1, 5000, 25_991])
    by_mask: dict[str, set[int]] = {}
    for r in runs:
        by_mask.setdefault(r.spec.mask, set()).add(r.init_seed)
    assert all(len(seeds) == 2 for seeds in by_mask.values())  # one per seed, over 6 hp
    assert len(set().union(*by_mask.values())) == 2 * len(by_mask)
    assert len({r.run_key for r in runs}) == len(runs)


def test_a_mask_trained_among_hundreds_matches_it_trained_alone() -> None:
    config = Phase2Config(structure=(3, 3, 3), grid=Grid(epochs=8))  # xor: 38 steps/epoch
    mask_set = phase2_masks(config)
    ids = np.random.default_rng(0).choice(len(mask_set), 50, replace=False)
    runs = phase2_runs(config, mask_set, "xor", ids)  # 50 masks x 6 hp
    split = load_split("xor")
    data = split.test
    sizes = (2, 3, 3, 3, 1)
    together = train_unit(unit(sizes, runs, 8), split, "cpu", "torch")
    assert len(runs) == 300
    for k in (0, 137, 299):
        alone = train_unit(unit(sizes, [runs[k]], 8), split, "cpu", "torch")[0]
        a = np.frombuffer(together[k].weights, np.float32)
        b = np.frombuffer(alone.weights, np.float32)
        np.testing.assert_allclose(a, b, atol=1e-5, rtol=0)
        assert together[k].run_key == alone.run_key and together[k].mask == alone.mask
        assert abs(together[k].accuracy - alone.accuracy) <= 2 / data.points


# ---- the command -----------------------------------------------------------------------


def cli() -> typer.Typer:
    app = typer.Typer()
    register(app)

    @app.callback()
    def main() -> None:
        pass

    return app


def invoke(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli(), ["search", *args])


def test_dry_run_counts_without_training() -> None:
    result = invoke("--phase", "2", "--dry-run", "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {
        "phase": 2, "structure": [3, 3, 3], "masks": 25_992, "trainings": 155_952,
    }  # fmt: skip
    result = invoke("--phase", "both", "--max-width", "8", "--dry-run", "--json", "--seeds", "2")
    first, second = json.loads(result.stdout)
    assert first == {"phase": 1, "structure": None, "masks": 512, "trainings": 512 * 12}
    assert second["phase"] == 2 and second["masks"] is None
    result = invoke("--phase", "2", "--symmetry", "joint", "--dry-run")
    assert "12,400 masks, 74,400 trainings" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--structure", "3,0,3", "--phase", "2"], "at least 1"),
        (["--max-width", "0"], "at least 1"),
        (["--targets", "0.9,1.2"], "(0, 1]"),
        (["--targets", "0"], "(0, 1]"),
        (["--phase", "2", "--structure", "4,4,4"], "69,129,268 masks, more than"),
        (["--phase", "2", "--max-masks", "1000"], "more than the limit of 1,000"),
        (["--phase", "2", "--nnz", "2,*,*"], "outside [3, 6] for a 3x2 layer"),
        (["--phase", "3"], "choose 1, 2 or both"),
        (["--init", "lucky"], "choose random, random-own-width, fixed"),
        (["--dataset", "nope"], "unknown dataset"),
        (["--phase", "2", "--init", "fixed", "--max-width", "2"], "does not fit"),
    ],
)
def test_bad_input_is_a_one_line_user_error(args: list[str], message: str) -> None:
    result = invoke(*args, "--dry-run")
    assert isinstance(result.exception, UserError)
    assert message in str(result.exception) and "\n" not in str(result.exception)


def test_a_real_run_prints_the_minimum_and_the_frontier_and_resumes(tmp_path: Path) -> None:
    args = [
        "--phase", "both", "--max-width", "2", "--epochs", "1", "--lrs", "0.1",
        "--schedules", "constant", "--dataset", "xor", "--engine", "torch", "--device", "cpu",
        "--targets", "0.5,0.999", "--json", "--db", str(tmp_path / "runs.duckdb"),
    ]  # fmt: skip
    first = invoke(*args)
    assert first.exit_code == 0, first.output
    phase1, phase2 = json.loads(first.stdout)
    assert phase1["phase"] == 1 and phase1["minimal"][0]["structure"] == [1, 1, 1]
    assert phase1["minimal"][0]["params"] == 9 and phase1["minimal"][1]["structure"] is None
    assert phase2["structure"] == [1, 1, 1]
    assert phase2["frontier"][0]["weight_nnz"] == 5 and phase2["frontier"][0]["run_key"]
    again = invoke(*args)
    assert again.exit_code == 0 and json.loads(again.stdout) == [phase1, phase2]
    assert "8 already done, 0 to train" in again.stderr
    table = invoke(*args[:-3], "--db", str(tmp_path / "runs.duckdb"))
    assert "minimal structures" in table.stdout and "frontier" in table.stdout
