#!/usr/bin/env bash
# The GPU figures, for a person with a CUDA machine: run from the repository root after
# `pip install -e ".[dev]"` with a CUDA build of torch. Prints the device, then the train,
# prune and search benchmarks on it, one JSON line each.
set -euo pipefail
python - <<'PY'
import torch
if not torch.cuda.is_available():
    raise SystemExit("gpu-check: torch sees no CUDA device")
print({"device": torch.cuda.get_device_name(0), "torch": torch.__version__})
PY
sparsest bench --suite train --device cuda --json
sparsest bench --suite prune --device cuda --json
sparsest bench --suite search --device cuda --json
