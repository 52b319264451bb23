"""The store needs only duckdb and numpy: never torch, harness, tui or textual."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_store_imports_neither_torch_nor_the_harness() -> None:
    code = (
        "import sys, store.db, store.queries, store.masks, store.records; "
        "bad = [m for m in sys.modules "
        "if m.split('.')[0] in ('torch', 'harness', 'tui', 'textual', 'algorithms')]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


def test_records_alone_do_not_load_duckdb() -> None:
    code = "import sys, store.records; assert 'duckdb' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
