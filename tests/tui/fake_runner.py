"""A stand-in for `sparsest run SPEC.toml --db PATH --progress jsonl` in the app's tests.

It speaks the same JSON lines and writes fake pruning runs (one per algorithm, width
and target of the spec) to the store, quickly and without torch. --delay slows each
step (to test cancelling), --burn keeps a CPU busy meanwhile; --fail makes it fail
half-way.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time

import tomllib

from store.db import ResultsStore
from store.records import RunRecord


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("spec")
    parser.add_argument("--db", required=True)
    parser.add_argument("--progress", default="jsonl")
    parser.add_argument("--delay", type=float, default=0.02)
    parser.add_argument("--fail", action="store_true")
    parser.add_argument("--burn", action="store_true", help="busy-wait each step (CPU load)")
    args = parser.parse_args()
    with open(args.spec, "rb") as handle:
        spec = tomllib.load(handle)
    prune = spec.get("prune", {})
    grid = [
        (algorithm, width, nnz)
        for algorithm in prune.get("algorithms", [])
        for width in prune.get("widths", [3])
        for nnz in prune.get("nnz", [15])
    ]
    store = ResultsStore(args.db)
    store.initialize()
    store.add_targets(spec.get("targets", []))
    sweep_id = store.create_sweep(spec.get("name", "sweep"), json.dumps(spec))

    def emit(**event: object) -> None:
        print(json.dumps({"sweep_id": sweep_id, **event}), flush=True)

    emit(event="start", done=0, total=len(grid), models_per_s=0.0)
    emit(event="stage", done=0, total=len(grid), stage="fake pruning", message="fake pruning")
    started = time.perf_counter()
    for done, (algorithm, width, nnz) in enumerate(grid, start=1):
        if args.burn:
            until = time.perf_counter() + args.delay
            while time.perf_counter() < until:
                sum(i * i for i in range(1000))
        else:
            time.sleep(args.delay)
        if args.fail and done > len(grid) // 2:
            store.set_sweep_status(sweep_id, "failed")
            print("error: the fake runner was told to fail", file=sys.stderr, flush=True)
            raise SystemExit(2)
        key = hashlib.blake2b(f"{spec.get('name')}{algorithm}{width}{nnz}".encode(), digest_size=10)
        accuracy = min(0.999, 0.6 + 0.015 * nnz)
        store.write_runs([
            RunRecord(
                run_key=key.hexdigest(), kind="prune", algorithm=algorithm,
                dataset=spec.get("dataset", "cubist-spiral"), widths=(width,) * 3,
                init_mode=prune.get("init", "random"), seed=0, lr=0.1, schedule="cosine",
                epochs=int(spec.get("epochs", 50)), target_weight_nnz=nnz, weight_nnz=nnz,
                model_nnz=nnz + 3 * width + 1, effective_nnz=nnz, dead_neurons=(0, 0, 0),
                accuracy=accuracy, final_loss=0.1, diverged=False, device="cpu",
                wall_seconds=0.01, sweep_id=sweep_id,
            )
        ])  # fmt: skip
        rate = done / (time.perf_counter() - started)
        emit(event="progress", done=done, total=len(grid), models_per_s=rate,
             eta_s=(len(grid) - done) / rate, stage="fake pruning")  # fmt: skip
    store.set_sweep_status(sweep_id, "done")
    emit(event="done", done=len(grid), total=len(grid))


if __name__ == "__main__":
    main()
