"""Work units are plain data: small, picklable, free of tensors and data sets, and a unit
that crossed a process boundary trains to exactly the records of the original."""

from __future__ import annotations

import pickle
from dataclasses import replace

from harness.sweeps.plan import plan_sweep
from harness.sweeps.spec_file import parse_spec
from harness.training.datasets import load_split
from harness.training.unit import train_unit

SPEC = """
name = 'units'
dataset = 'xor'
epochs = 1
lrs = [0.1, 0.2]
schedules = ['cosine', 'constant']
population = 512
[search]
phase1 = false
structure = [3, 3, 3]
lrs = [0.1]
[prune]
algorithms = ['lth', 'snip']
widths = [3]
nnz = [10, 20]
[prune.hparams.lth]
rounds = 2
"""


def units_by_stage() -> dict[str, list]:  # type: ignore[type-arg]
    plan = plan_sweep(parse_spec(SPEC))[0]
    return {stage.kind: list(stage.units) for stage in plan.stages}


def test_a_unit_is_small_and_carries_no_tensors_or_data() -> None:
    stages = units_by_stage()
    phase2 = stages["phase2"][0]
    assert len(phase2.runs) == 512
    blob = pickle.dumps(phase2)
    assert len(blob) < 400 * len(phase2.runs)  # a few hundred bytes per model
    assert b"torch" not in blob and b"numpy" not in blob
    assert pickle.loads(blob) == phase2
    lth = next(u for u in stages["prune"] if u.algorithm == "lth")
    again = pickle.loads(pickle.dumps(lth))
    assert again.params == lth.params and again.params.rounds == 2  # typed, not text
    assert lth.training_epochs == 3 * lth.epochs  # rounds + 1 trainings


def test_a_pickled_unit_trains_to_the_same_records() -> None:
    split = load_split("xor")
    for kind, units in units_by_stage().items():
        unit = units[0]
        unit = replace(unit, runs=unit.runs[:6])
        here = train_unit(unit, split, "cpu", "torch")
        there = train_unit(pickle.loads(pickle.dumps(unit)), split, "cpu", "torch")
        assert [r.run_key for r in here] == unit.keys, kind
        for a, b in zip(here, there, strict=True):
            assert (a.weights, a.mask, a.accuracy) == (b.weights, b.mask, b.accuracy), kind
