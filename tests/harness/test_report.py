"""`sparsest report` on small stores real sweeps wrote: the sections, the figures, the
self-contained HTML, the CSVs against the store, and the command's refusals."""

from __future__ import annotations

import base64
import csv
import json
import math
import re
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path

import duckdb
import matplotlib.image as mpimg
import numpy as np
import pytest

from harness.cli.report import rebuild_command
from harness.report.sections import overparam_coverage, phase1_coverage, shown_path
from harness.report.stats import wilson
from harness.report.style import FRONTIER, style
from store import queries
from store.db import ResultsStore
from tests.harness import report_stores
from tests.harness.test_hardening_spec import run_cli

TITLES = (
    "The optimal frontier",
    "Pruning against the frontier",
    "Overparameterisation",
    "Disconnected weights",
    "Given the optimal width and init",
    "Luck",
    "Speed and provenance",
)


@pytest.fixture(scope="module")
def full_store(tmp_path_factory: pytest.TempPathFactory) -> ResultsStore:
    return report_stores.full(tmp_path_factory.mktemp("full") / "runs.duckdb")


@pytest.fixture(scope="module")
def full_report(full_store: ResultsStore, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from harness.cli.main import main

    out = tmp_path_factory.mktemp("report") / "out"
    with pytest.raises(SystemExit) as exit_:
        main(["report", str(out), "--db", str(full_store.path)])
    assert exit_.value.code == 0
    return out


class Page(HTMLParser):
    """Headings, every src/href, the images' sources and the missing-section lines."""

    def __init__(self) -> None:
        super().__init__()
        self.refs: list[tuple[str, str, str]] = []
        self.images: list[str] = []
        self.h2: list[str] = []
        self.missing: list[str] = []
        self.tags: set[str] = set()
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        values = dict(attrs)
        for name in ("src", "href", "srcset", "data", "action", "poster"):
            if values.get(name) is not None:
                self.refs.append((tag, name, str(values[name])))
        if tag == "img":
            self.images.append(str(values.get("src")))
        if tag == "h2":
            self._in, self._text = "h2", ""
        if tag == "p" and values.get("class") == "missing":
            self._in, self._text = "missing", ""

    def handle_data(self, data: str) -> None:
        if self._in:
            self._text += data

    def handle_endtag(self, tag: str) -> None:
        if self._in == "h2" and tag == "h2":
            self.h2.append(self._text)
            self._in = None
        elif self._in == "missing" and tag == "p":
            self.missing.append(self._text)
            self._in = None


def parse(path: Path) -> Page:
    page = Page()
    page.feed(path.read_text(encoding="utf-8"))
    page.close()
    return page


def csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_every_section_is_there_when_its_runs_are(full_report: Path) -> None:
    page = parse(full_report / "index.html")
    assert page.h2 == [f"{k}. {title}" for k, title in enumerate(TITLES, 1)]
    assert page.missing == []
    markdown = (full_report / "report.md").read_text()
    for k, title in enumerate(TITLES, 1):
        assert f"## {k}. {title}" in markdown
    assert "\n> " not in markdown  # no section stands in for missing runs


def test_a_store_without_the_runs_says_which_preset_adds_each_section(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = report_stores.search_only(tmp_path / "runs.duckdb")
    out = tmp_path / "out"
    code, stdout, err = run_cli(["report", str(out), "--db", str(store.path)], capsys)
    assert code == 0, err
    assert "2 of 7 sections" in stdout
    page = parse(out / "index.html")
    assert len(page.h2) == 7
    assert len(page.missing) == 5  # pruning, overparameterisation, disconnection, fixed, luck
    for line, hint in zip(
        page.missing, ("paper-95", "paper-overparam", "quick", "paper-fixed-init", "seeds = ")
    ):
        assert hint in line, line
        assert "\n" not in line.strip()
    markdown = (out / "report.md").read_text()
    assert markdown.count("\n> ") == 5


def test_every_image_exists_and_is_not_blank(full_report: Path) -> None:
    markdown = (full_report / "report.md").read_text()
    referenced = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", markdown)
    on_disk = sorted(p.relative_to(full_report).as_posix()
                     for p in (full_report / "figures").glob("*.png"))  # fmt: skip
    assert sorted(referenced) == on_disk
    assert len(on_disk) >= 10  # frontier, networks, pruning, gap, overparam, ...
    for name in referenced:
        path = full_report / name
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        pixels = mpimg.imread(path)[..., :3]
        assert pixels.std() > 0.02, name  # something drawn, not one flat colour
        assert (pixels < 0.5).mean() > 0.001, name  # lines and text, not blank white


def test_the_html_embeds_every_figure_and_references_nothing_outside(full_report: Path) -> None:
    page = parse(full_report / "index.html")
    assert not page.tags & {"link", "script", "iframe", "object", "embed"}
    for tag, attribute, value in page.refs:
        if attribute == "href":
            assert value.startswith("#"), (tag, value)
        else:
            assert value.startswith("data:image/png;base64,"), (tag, value[:40])
    html_text = (full_report / "index.html").read_text()
    assert "url(" not in html_text and "@import" not in html_text
    figures = sorted((full_report / "figures").glob("*.png"))
    embedded = sorted(base64.b64decode(src.split(",", 1)[1]) for src in page.images)
    assert embedded == sorted(p.read_bytes() for p in figures)
    assert 'name="viewport"' in html_text and "max-width:100%" in html_text


def test_the_tables_are_the_stores_numbers(full_report: Path, full_store: ResultsStore) -> None:
    tables = full_report / "tables"
    gap = csv_rows(tables / "2-gap-moons-random.csv")
    expected = [r for r in queries.leaderboard(full_store) if r.init == "random"]
    assert [(g["algorithm"], float(g["target"]), g["weight_nnz"], g["run_key"]) for g in gap] == [
        (r.algorithm, r.target, "" if r.weight_nnz is None else str(r.weight_nnz), r.run_key or "")
        for r in expected
    ]
    assert any(g["gap_ratio"] for g in gap)
    frontier = csv_rows(tables / "1-frontier.csv")
    assert [(f["init"], float(f["target"]), f["weight_nnz"]) for f in frontier] == [
        (r.init, r.target, "" if r.weight_nnz is None else str(r.weight_nnz))
        for r in queries.frontier(full_store)
    ]
    with duckdb.connect(str(full_store.path), read_only=True) as conn:
        sums = {
            (alg, "-".join(map(str, widths))): (n, kept, eff, dead)
            for alg, widths, n, kept, eff, dead in conn.execute(
                "SELECT algorithm, widths, count(*), sum(weight_nnz), sum(effective_nnz), "
                "sum(list_sum(dead_neurons)) FROM runs WHERE kind = 'prune' GROUP BY ALL"
            ).fetchall()
        }
    disconnected = csv_rows(tables / "4-disconnected.csv")
    assert len(disconnected) == len(sums)
    for row in disconnected:
        n, kept, eff, dead = sums[row["algorithm"], row["widths"]]
        assert int(row["runs"]) == n
        assert math.isclose(float(row["disconnected_share"]), (kept - eff) / kept)
        assert math.isclose(float(row["mean_dead_neurons"]), dead / n)
    sweeps = csv_rows(tables / "7-sweeps.csv")
    assert [(s["name"], int(s["runs"])) for s in sweeps] == [
        (s.name, s.runs) for s in full_store.list_sweeps()
    ]


def test_luck_counts_a_recipe_over_its_seeds(full_report: Path, full_store: ResultsStore) -> None:
    rows = csv_rows(full_report / "tables" / "6-luck.csv")
    assert any(int(r["seeds"]) == 2 for r in rows)  # the random study ran two seeds
    with duckdb.connect(str(full_store.path), read_only=True) as conn:
        for row in rows:
            if row["curve"] == "search":
                continue
            found = conn.execute(
                "SELECT count(*), count(*) FILTER (WHERE NOT r.diverged AND r.accuracy >= ?) "
                "FROM runs r JOIN runs b ON b.run_key = ? WHERE r.kind = 'prune' "
                "AND r.algorithm = b.algorithm AND r.widths = b.widths AND r.lr = b.lr "
                "AND r.schedule = b.schedule AND r.target_weight_nnz = b.target_weight_nnz "
                "AND r.init_mode = b.init_mode",
                [float(row["target"]), row["run_key"]],
            ).fetchone()
            assert (int(row["seeds"]), int(row["reached"])) == found
            low, high = wilson(int(row["reached"]), int(row["seeds"]))
            assert math.isclose(float(row["wilson_low"]), low)
            assert math.isclose(float(row["wilson_high"]), high)


def test_provenance_has_the_rebuild_command(full_report: Path, full_store: ResultsStore) -> None:
    items = {r["item"]: r["value"] for r in csv_rows(full_report / "tables" / "7-provenance.csv")}
    assert items["rebuild with"] == (
        f"sparsest report {full_report.resolve()} --db {full_store.path.resolve()} --force"
    )
    assert items["sparsest"] and items["cpu"] and items["platform"]


def test_paths_under_the_working_directory_are_shown_relative(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert rebuild_command(Path("docs/out"), tmp_path / "a.duckdb", "md") == (
        "sparsest report docs/out --db a.duckdb --format md --force"
    )
    outside = tmp_path.parent.resolve() / "b.duckdb"
    assert shown_path(outside) == str(outside)


def test_the_report_says_how_much_of_phase_1_it_holds(full_report: Path, tmp_path: Path) -> None:
    markdown = (full_report / "report.md").read_text()
    assert (  # moons, max_width 2, two seeds of one lr and schedule
        "The store holds all of phase 1 on moons (init random): the 8 structures with d1, "
        "d2, d3 in 1..2, 2 runs each (the paper's search goes up to 16 wide)." in markdown
    )
    assert "(phases 1 and 2 together)" in markdown
    store = report_stores.search_only(tmp_path / "runs.duckdb")
    with duckdb.connect(str(store.path)) as db:  # an interrupted phase 1
        db.execute(
            "DELETE FROM runs WHERE kind = 'search-phase1' AND (list_extract(widths, 1) = 2 "
            "AND list_extract(widths, 2) = 2 OR widths = [1, 1, 2])"
        )
    groups = [g for g in queries.run_groups(store) if g.kind == "search-phase1"]
    assert phase1_coverage(groups) == [
        "The store holds part of phase 1 on moons (init random): 5 of the 8 structures with "
        "d1, d2, d3 in 1..2; its minimal structures and frontier are the smallest among those "
        "trained, and a smaller structure may still be found (rerun the sweep to finish it)."
    ]
    uneven = [groups[0], *(replace(g, runs=2) for g in groups[1:])]
    assert ", 1 of them with fewer runs than the 2 of the others;" in phase1_coverage(uneven)[0]
    out = tmp_path / "out"
    from harness.cli.main import main

    with pytest.raises(SystemExit) as exit_:
        main(["report", str(out), "--db", str(store.path)])
    assert exit_.value.code == 0
    assert "this store has no phase 2 runs" in (out / "report.md").read_text()


def test_overparam_coverage_names_what_did_not_run_in_full() -> None:
    """A sweep stopped part-way through the widest width: SNIP never pruned from 64 and
    LTH has 100 of its 207 runs there; the report says so instead of drawing short lines
    as if complete. A complete study gets no line."""

    def group(algorithm: str, width: int, runs: int) -> queries.RunGroup:
        return queries.RunGroup("cubist-spiral", "random", "prune", algorithm, (width,) * 3,
                                runs, 0, (0,), ("repro",), 0, 0, 0, 0, 0, 0.0)  # fmt: skip

    full = [group(a, w, 207) for a in ("imp", "lth", "snip") for w in (32, 64)]
    assert overparam_coverage(full) == []
    stopped = [g for g in full if (g.algorithm, g.widths[0]) != ("snip", 64)]
    stopped = [replace(g, runs=100) if (g.algorithm, g.widths[0]) == ("lth", 64) else g
               for g in stopped]  # fmt: skip
    assert overparam_coverage(stopped) == [
        "Not every algorithm ran in full on cubist-spiral: from width 64, snip did not run; "
        "from width 64, lth 100 of 207 runs. Their lines stop or rest on fewer runs there "
        "(rerun the sweep to finish it)."
    ]


def test_wilson_interval() -> None:
    assert wilson(0, 0) == (0.0, 1.0)
    low, high = wilson(5, 10)
    assert math.isclose(low, 0.2366, abs_tol=1e-4) and math.isclose(high, 0.7634, abs_tol=1e-4)
    assert wilson(0, 5)[0] == 0.0 and math.isclose(wilson(0, 5)[1], 0.4345, abs_tol=1e-4)
    assert math.isclose(wilson(10, 10)[0], 0.7225, abs_tol=1e-4) and wilson(10, 10)[1] == 1.0


def test_each_algorithm_keeps_one_style_and_none_is_black() -> None:
    from algorithms.registry import ALGORITHMS

    styles = [style(name) for name in ALGORITHMS]
    assert len({s.color for s in styles}) == len(styles)
    assert FRONTIER.color not in {s.color for s in styles}
    assert style("someone-new") == style("someone-new") != FRONTIER


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        ("missing", "no results store at"),
        ("empty", "is an empty DuckDB database"),
        ("foreign", "not a sparsest results store"),
    ],
)
def test_a_store_it_cannot_read_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], setup: str, expected: str
) -> None:
    db = tmp_path / "runs.duckdb"
    if setup != "missing":
        with duckdb.connect(str(db)) as conn:
            if setup == "foreign":
                conn.execute("CREATE TABLE other (x INTEGER)")
    before = db.read_bytes() if db.exists() else None
    code, _, err = run_cli(["report", str(tmp_path / "out"), "--db", str(db)], capsys)
    assert code == 2 and err.count("\n") == 1 and expected in err, err
    assert (db.read_bytes() if db.exists() else None) == before  # never given a schema
    assert not (tmp_path / "out").exists()


def test_a_non_empty_out_dir_needs_force_and_keeps_other_files(
    full_store: ResultsStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    args = ["report", str(out), "--db", str(full_store.path), "--format", "md"]
    code, _, err = run_cli(args, capsys)
    assert code == 2 and "--force" in err and err.count("\n") == 1
    code, stdout, err = run_cli([*args, "--force", "--json"], capsys)
    assert code == 0, err
    written = json.loads(stdout)
    assert written["html"] is None and Path(written["markdown"]).is_file()
    assert all(Path(p).is_file() for p in written["figures"] + written["tables"])
    assert (out / "notes.txt").read_text() == "mine"
    assert not (out / "index.html").exists()
    code, _, err = run_cli(["report", str(out), "--db", str(full_store.path), "--format", "pdf"],
                           capsys)  # fmt: skip
    assert code == 2 and "--format" in err


def test_network_figures_draw_effective_and_disconnected_weights(full_report: Path) -> None:
    networks = sorted((full_report / "figures").glob("1-network-*.png"))
    assert networks
    pixels = mpimg.imread(networks[0])[..., :3]
    green = (np.abs(pixels - np.array([0.17, 0.63, 0.17])).sum(axis=-1) < 0.15).mean()
    assert green > 0.0005  # effective weights in green
