"""Small stores for the report's tests, written by real sweeps (a few seconds of CPU):
`full` holds every section's runs, `search_only` only phase 1."""

from __future__ import annotations

from pathlib import Path

from harness.sweeps.driver import SweepDriver
from harness.sweeps.spec_file import parse_spec
from store.db import ResultsStore

RANDOM = """
name = "report-random"
dataset = "moons"
epochs = 12
lrs = [0.1]
schedules = ["constant"]
seeds = 2
targets = [0.8]
population = 64
engine = "torch"

[search]
max_width = 2
lrs = [0.1]
structure = [2, 2, 2]

[prune]
algorithms = ["snip", "random"]
widths = [3, 4]
nnz = [6, 10]
"""

FIXED = """
name = "report-fixed"
dataset = "moons"
epochs = 12
lrs = [0.1]
schedules = ["constant"]
targets = [0.8]
population = 64
engine = "torch"

[search]
phase1 = true
phase2 = false
max_width = 2
init = "fixed"
fixed_network = "paper-95"
lrs = [0.1]

[prune]
algorithms = ["snip"]
nnz = [6, 10]
init = "fixed"
widths = []
from_search = true
"""

SEARCH_ONLY = """
name = "report-search"
dataset = "moons"
epochs = 2
lrs = [0.1]
schedules = ["constant"]
targets = [0.8]
population = 16
engine = "torch"

[search]
phase1 = true
phase2 = false
max_width = 2
lrs = [0.1]
"""


def full(path: Path) -> ResultsStore:
    """Search and pruning from two widths with two seeds, and a fixed-init study."""
    store = ResultsStore(path)
    SweepDriver(parse_spec(RANDOM), store).run()
    SweepDriver(parse_spec(FIXED), store).run()
    return store


def search_only(path: Path) -> ResultsStore:
    store = ResultsStore(path)
    SweepDriver(parse_spec(SEARCH_ONLY), store).run()
    return store
