"""The report's index.html in a real headless browser (Chromium, from the system's
packages; `.ci/run` installs it): screenshots at desktop and phone widths show the
figures, every image decodes, and nothing overflows a 390-pixel phone. Skipped, with the
reason under -ra, where no Chromium is installed."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import matplotlib.image as mpimg
import pytest

from store.db import ResultsStore
from tests.harness import report_stores

CHROMIUM = next(
    (p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None
)
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="chromium not installed (apt-get install chromium; .ci/run installs it)",
)

PROBE = """<!doctype html><html><body style="margin:0">
<iframe id="f" src="{src}" style="width:{width}px;height:2000px;border:0"></iframe>
<script>
document.getElementById('f').addEventListener('load', function () {{
  var d = this.contentDocument, w = this.contentWindow;
  var images = Array.from(d.images);
  document.body.setAttribute('data-probe', JSON.stringify({{
    scrollWidth: d.documentElement.scrollWidth, innerWidth: w.innerWidth,
    images: images.length,
    loaded: images.filter(function (i) {{ return i.complete && i.naturalWidth > 0; }}).length,
    widest: Math.max.apply(null, images.map(function (i) {{
      return i.getBoundingClientRect().right; }}))
  }}));
}});
</script></body></html>"""
"""The page in an iframe exactly `width` pixels wide (a headless window has a minimum
width, an iframe has none), measured from inside once it has loaded."""


def chromium(*args: str, profile: Path) -> str:
    result = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         "--no-first-run", f"--user-data-dir={profile}", *args],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def probe(page: Path, width: int, tmp: Path) -> dict[str, float]:
    """Layout facts of `page` at `width` CSS pixels."""
    probe_page = tmp / f"probe-{width}.html"
    probe_page.write_text(PROBE.format(src=page.resolve().as_uri(), width=width))
    dom = chromium(
        "--allow-file-access-from-files", "--window-size=1280,2100",
        "--virtual-time-budget=10000", "--dump-dom", probe_page.as_uri(), profile=tmp / "p",
    )  # fmt: skip
    found = re.search(r'data-probe="([^"]*)"', dom)
    assert found, dom[-1000:]
    return json.loads(found.group(1).replace("&quot;", '"'))


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from harness.cli.main import main

    base = tmp_path_factory.mktemp("browser")
    store: ResultsStore = report_stores.full(base / "runs.duckdb")
    with pytest.raises(SystemExit) as exit_:
        main(["report", str(base / "out"), "--db", str(store.path), "--format", "html"])
    assert exit_.value.code == 0
    return base / "out" / "index.html"


@pytest.mark.parametrize("width", [1280, 390])
def test_screenshots_show_the_figures(report: Path, tmp_path: Path, width: int) -> None:
    shot = tmp_path / f"report-{width}.png"
    chromium(f"--screenshot={shot}", f"--window-size={width},2000",
             "--virtual-time-budget=10000", report.as_uri(), profile=tmp_path / "p")  # fmt: skip
    pixels = mpimg.imread(shot)[..., :3]
    assert pixels.shape[1] == width
    assert pixels.std() > 0.05  # not a blank page
    # the first screen holds the frontier tables and its figure: plenty of non-white
    assert (pixels.min(axis=-1) < 0.9).mean() > 0.03


@pytest.mark.parametrize("width", [1280, 390])
def test_every_image_renders_and_nothing_overflows(
    report: Path, tmp_path: Path, width: int
) -> None:
    facts = probe(report, width, tmp_path)
    assert facts["images"] >= 10 and facts["loaded"] == facts["images"], facts
    assert facts["scrollWidth"] <= facts["innerWidth"], facts  # no horizontal page scroll
    assert facts["widest"] <= facts["innerWidth"], facts


def test_the_probe_sees_an_overflow(tmp_path: Path) -> None:
    wide = tmp_path / "wide.html"
    wide.write_text('<!doctype html><body><div style="width:2000px">x</div><img src="">')
    facts = probe(wide, 390, tmp_path)
    assert facts["scrollWidth"] > facts["innerWidth"]
