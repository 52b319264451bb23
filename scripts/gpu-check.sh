#!/usr/bin/env bash
# The GPU figures, for a person with a CUDA machine: run from the repository root after
# `pip install -e ".[dev]"` with a CUDA build of torch. Prints the device; then whether the
# torch engine's device-made data orders equal the CPU kernels' bit for bit and whether an
# epoch of the torch engine runs without a host synchronisation (torch's sync debug mode),
# with its time; then the train, prune and search benchmarks on it, one JSON line each.
set -euo pipefail
python - <<'PY'
import json
import time

import numpy as np
import torch

if not torch.cuda.is_available():
    raise SystemExit("gpu-check: torch sees no CUDA device")
print({"device": torch.cuda.get_device_name(0), "torch": torch.__version__})

from harness.training.data_order import epoch_orders, epoch_orders_torch, seed_keys
from harness.training.datasets import cubist_spiral
from harness.training.engines.base import SGDConfig, TrainState
from harness.training.engines.torch_engine import TorchEngine
from harness.training.population import Population
from harness.training.schedules import epoch_learning_rates

cuda = torch.device("cuda")
seeds = np.arange(1024)
keys = torch.from_numpy(seed_keys(seeds)).to(cuda)
same = all(
    np.array_equal(epoch_orders_torch(keys, epoch, n).cpu().numpy(), epoch_orders(seeds, epoch, n))
    for n in (1, 5, 140, 1983, 49_982)
    for epoch in (0, 3)
)
data = cubist_spiral()
result = {"orders_bitwise_equal": same}
for models, widths in ((1024, (3, 3, 3)), (1024, (16, 16, 16))):
    config = SGDConfig(epochs=3)
    population = Population.initialize(
        (2, *widths, 1), list(range(models)), [0.1] * models, ["cosine"] * models
    )
    engine = TorchEngine(data, config, cuda)
    engine.import_state(TrainState.fresh(population.to(cuda)))
    base, codes = population.lr.numpy(), population.schedule.numpy()
    engine.run_epoch(seeds[:models], 0, data.points, epoch_learning_rates(base, codes, 0, 3))
    torch.cuda.synchronize()
    started = time.perf_counter()
    torch.cuda.set_sync_debug_mode("error")
    try:
        engine.run_epoch(seeds[:models], 1, data.points, epoch_learning_rates(base, codes, 1, 3))
        synced = None
    except RuntimeError as error:  # the first synchronising call
        synced = str(error).splitlines()[0]
    finally:
        torch.cuda.set_sync_debug_mode(0)
    queued = time.perf_counter() - started
    torch.cuda.synchronize()
    epoch_s = time.perf_counter() - started
    result[f"width {widths}"] = {
        "models": models,
        "host_sync_in_epoch": synced,
        "epoch_s": round(epoch_s, 4),
        "host_queueing_s": round(queued, 4),
        "model_epochs_per_s": round(models / epoch_s, 1),
    }
print(json.dumps(result))
PY
sparsest bench --suite train --device cuda --json
sparsest bench --suite prune --device cuda --json
sparsest bench --suite search --device cuda --json
