"""A stand-in for `sparsest run SPEC.toml --db PATH --progress jsonl` in the app's tests.

It speaks the same JSON lines and writes fake pruning runs (one per algorithm, width
and target of the spec) to the store, quickly and without torch. Like the real runner it
resumes: a rerun of an unfinished sweep takes over its id (ResultsStore.start_sweep) and
trains only the runs whose keys are not stored yet; an interrupt (SIGINT) marks the
sweep `cancelled` and exits 130.

--delay slows each step, --burn keeps a CPU busy meanwhile; --fail makes it fail
half-way. --hold-after N --hold-file PATH: after training N runs, wait (without
training more) for as long as PATH exists, so that a test can cancel it mid-sweep
deterministically. --trace PATH: append the key of every run it trains to PATH.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import tomllib

from store.db import ResultsStore
from store.records import RunRecord


def run_key(spec: dict[str, object], algorithm: str, width: int, nnz: int) -> str:
    text = f"{spec.get('name')}{algorithm}{width}{nnz}"
    return hashlib.blake2b(text.encode(), digest_size=10).hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("spec")
    parser.add_argument("--db", required=True)
    parser.add_argument("--progress", default="jsonl")
    parser.add_argument("--delay", type=float, default=0.02)
    parser.add_argument("--fail", action="store_true")
    parser.add_argument("--burn", action="store_true", help="busy-wait each step (CPU load)")
    parser.add_argument("--hold-after", type=int, default=None)
    parser.add_argument("--hold-file", type=Path, default=None)
    parser.add_argument("--trace", type=Path, default=None)
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
    sweep_id, _ = store.start_sweep(spec.get("name", "sweep"), json.dumps(spec))
    stored = store.done_keys(run_key(spec, *point) for point in grid)
    missing = [point for point in grid if run_key(spec, *point) not in stored]

    def emit(**event: object) -> None:
        print(json.dumps({"sweep_id": sweep_id, **event}), flush=True)

    try:
        emit(event="start", done=len(stored), total=len(grid), models_per_s=0.0)
        emit(event="stage", done=len(stored), total=len(grid), stage="fake pruning",
             message="fake pruning")  # fmt: skip
        started = time.perf_counter()
        for trained, (algorithm, width, nnz) in enumerate(missing, start=1):
            if args.burn:
                until = time.perf_counter() + args.delay
                while time.perf_counter() < until:
                    sum(i * i for i in range(1000))
            else:
                time.sleep(args.delay)
            done = len(stored) + trained
            if args.fail and done > len(grid) // 2:
                store.set_sweep_status(sweep_id, "failed")
                print("error: the fake runner was told to fail", file=sys.stderr, flush=True)
                raise SystemExit(2)
            key = run_key(spec, algorithm, width, nnz)
            accuracy = min(0.999, 0.6 + 0.015 * nnz)
            store.write_runs([
                RunRecord(
                    run_key=key, kind="prune", algorithm=algorithm,
                    dataset=spec.get("dataset", "cubist-spiral"), widths=(width,) * 3,
                    init_mode=prune.get("init", "random"), seed=0, lr=0.1, schedule="cosine",
                    epochs=int(spec.get("epochs", 50)), target_weight_nnz=nnz, weight_nnz=nnz,
                    model_nnz=nnz + 3 * width + 1, effective_nnz=nnz, dead_neurons=(0, 0, 0),
                    accuracy=accuracy, final_loss=0.1, diverged=False, device="cpu",
                    wall_seconds=0.01, sweep_id=sweep_id,
                )
            ])  # fmt: skip
            if args.trace is not None:
                with args.trace.open("a") as trace:
                    trace.write(key + "\n")
            rate = trained / (time.perf_counter() - started)
            emit(event="progress", done=done, total=len(grid), models_per_s=rate,
                 eta_s=(len(grid) - done) / rate, stage="fake pruning")  # fmt: skip
            if trained == args.hold_after and args.hold_file is not None:
                while args.hold_file.exists():
                    time.sleep(0.02)
    except KeyboardInterrupt:
        store.set_sweep_status(sweep_id, "cancelled")
        print("interrupted: results written so far are kept; rerun to resume", file=sys.stderr)
        raise SystemExit(130) from None
    store.set_sweep_status(sweep_id, "done")
    emit(event="done", done=len(grid), total=len(grid))


if __name__ == "__main__":
    main()
