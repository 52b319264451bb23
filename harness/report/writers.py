"""The report on disk: `index.html` (figures embedded as data URIs, no external
reference, readable at phone width), `report.md` with the figures beside it in
figures/, and every table as CSV in tables/."""

from __future__ import annotations

import base64
import csv
import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.report.sections import Figure, Section, Table, Text

FORMATS = ("html", "md")
MD_ROWS = 40
"""Rows a Markdown table shows before pointing at its CSV."""
FOLD_ROWS = 25
"""Rows an HTML table shows before it folds into a <details> element."""

CSS = """
*{box-sizing:border-box}
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;line-height:1.45;
margin:0;padding:0 1rem 3rem;color:#1b1b1b;background:#fff}
main{max-width:60rem;margin:0 auto}
h1{font-size:1.6rem;margin:1.2rem 0 .3rem}
h2{font-size:1.25rem;margin-top:2.2rem;border-bottom:1px solid #ddd;padding-bottom:.2rem}
p,figcaption,li,summary{overflow-wrap:anywhere}
figure{margin:1.2rem 0}
img{display:block;max-width:100%;height:auto;margin:0 auto}
figcaption,.note{font-size:.85rem;color:#444}
.table{overflow-x:auto;max-width:100%;margin:1rem 0 .3rem}
table{border-collapse:collapse;font-size:.8rem;font-variant-numeric:tabular-nums}
th,td{border-bottom:1px solid #e3e3e3;padding:.2rem .5rem;text-align:right;white-space:nowrap}
th{background:#f4f4f4}
td.s,th.s{text-align:left}
.missing{background:#fff6e0;border-left:4px solid #e0a800;padding:.4rem .7rem}
code{background:#f2f2f2;padding:0 .2rem;border-radius:3px;overflow-wrap:anywhere}
nav ol{padding-left:1.4rem}
"""


@dataclass(frozen=True)
class Written:
    """What a report wrote: the HTML and Markdown pages (None when not asked for), the
    figure PNGs and table CSVs."""

    html: Path | None
    markdown: Path | None
    figures: list[Path]
    tables: list[Path]

    def paths(self) -> list[Path]:
        pages = [p for p in (self.html, self.markdown) if p is not None]
        return [*pages, *self.figures, *self.tables]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "-", text).strip("-").lower() or "x"


def _files(sections: Sequence[Section]) -> dict[int, str]:
    """id(block) -> its file's stem: section number and slug, unique among the figures
    (figures/) and among the tables (tables/)."""
    names: dict[int, str] = {}
    seen: dict[type, set[str]] = {Figure: set(), Table: set()}
    for section in sections:
        for block in section.blocks:
            if isinstance(block, (Figure, Table)):
                stem = f"{section.number}-{_slug(block.name)}"
                unique, k = stem, 2
                while unique in seen[type(block)]:
                    unique, k = f"{stem}-{k}", k + 1
                seen[type(block)].add(unique)
                names[id(block)] = unique
    return names


def cell(column: str, value: Any) -> str:
    """A table value for reading (CSVs keep the raw value)."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"
    if column == "run_key":
        return str(value)[:12]
    return str(value)


def _is_text(table: Table, k: int) -> bool:
    return not any(isinstance(row[k], (int, float)) for row in table.rows if row[k] is not None)


def _inline(text: str) -> str:
    """Escaped text with `code` spans."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text))


def _html_table(table: Table, stem: str) -> str:
    text_columns = [_is_text(table, k) for k in range(len(table.columns))]
    head = "".join(
        f"<th{' class=s' if t else ''}>{html.escape(c)}</th>"
        for c, t in zip(table.columns, text_columns)
    )
    body = "\n".join(
        "<tr>"
        + "".join(
            f"<td{' class=s' if t else ''}>{html.escape(cell(c, v))}</td>"
            for c, v, t in zip(table.columns, row, text_columns)
        )
        + "</tr>"
        for row in table.rows
    )
    caption = f"{_inline(table.caption)} (CSV: <code>tables/{stem}.csv</code>)"
    inner = (
        f'<div class="table"><table><thead><tr>{head}</tr></thead><tbody>\n{body}\n'
        f'</tbody></table></div><p class="note">{caption}</p>'
    )
    if len(table.rows) > FOLD_ROWS:
        return f"<details><summary>table: {len(table.rows)} rows</summary>{inner}</details>"
    return inner


def render_html(sections: Sequence[Section], title: str, subtitle: str) -> str:
    """The whole page; images are base64 data URIs, so it opens offline anywhere."""
    names = _files(sections)
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body><main>",
        f"<h1>{html.escape(title)}</h1><p class=note>{_inline(subtitle)}</p>",
        "<nav><ol>"
        + "".join(f'<li><a href="#{s.anchor}">{html.escape(s.title)}</a></li>' for s in sections)
        + "</ol></nav>",
    ]
    for section in sections:
        parts.append(f'<section id="{section.anchor}">')
        parts.append(f"<h2>{section.number}. {html.escape(section.title)}</h2>")
        if section.missing is not None:
            parts.append(f'<p class="missing">{_inline(section.missing)}</p>')
        for block in section.blocks:
            if isinstance(block, Text):
                parts.append(f"<p>{_inline(block.text)}</p>")
            elif isinstance(block, Figure):
                data = base64.b64encode(block.png).decode("ascii")
                parts.append(
                    f'<figure><img src="data:image/png;base64,{data}" '
                    f'alt="{html.escape(block.alt)}"><figcaption>{_inline(block.caption)}'
                    "</figcaption></figure>"
                )
            else:
                parts.append(_html_table(block, names[id(block)]))
        parts.append("</section>")
    parts.append("</main></body></html>\n")
    return "\n".join(parts)


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|")


def render_markdown(sections: Sequence[Section], title: str, subtitle: str) -> str:
    """The report as Markdown; figures are figures/NAME.png beside it."""
    names = _files(sections)
    lines = [f"# {title}", "", subtitle, ""]
    for section in sections:
        lines += [f"## {section.number}. {section.title}", ""]
        if section.missing is not None:
            lines += [f"> {section.missing}", ""]
        for block in section.blocks:
            if isinstance(block, Text):
                lines += [block.text, ""]
            elif isinstance(block, Figure):
                stem = names[id(block)]
                lines += [f"![{block.alt}](figures/{stem}.png)", "", f"*{block.caption}*", ""]
            else:
                stem = names[id(block)]
                lines.append("| " + " | ".join(block.columns) + " |")
                lines.append("|" + "---|" * len(block.columns))
                for row in block.rows[:MD_ROWS]:
                    values = (_md_escape(cell(c, v)) for c, v in zip(block.columns, row))
                    lines.append("| " + " | ".join(values) + " |")
                more = len(block.rows) - MD_ROWS
                tail = f" ({more} more rows in the CSV)" if more > 0 else ""
                lines += ["", f"*{block.caption}* CSV: `tables/{stem}.csv`{tail}", ""]
    return "\n".join(lines)


def write_report(
    sections: Sequence[Section], out: Path, formats: Sequence[str], title: str, subtitle: str
) -> Written:
    """Write the chosen pages, every figure as PNG and every table as CSV under `out`."""
    names = _files(sections)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    (out / "tables").mkdir(parents=True, exist_ok=True)
    figures: list[Path] = []
    tables: list[Path] = []
    for section in sections:
        for block in section.blocks:
            if isinstance(block, Figure):
                path = out / "figures" / f"{names[id(block)]}.png"
                path.write_bytes(block.png)
                figures.append(path)
            elif isinstance(block, Table):
                path = out / "tables" / f"{names[id(block)]}.csv"
                with path.open("w", newline="") as handle:
                    writer = csv.writer(handle, lineterminator="\n")
                    writer.writerow(block.columns)
                    writer.writerows(["" if v is None else v for v in row] for row in block.rows)
                tables.append(path)
    html_path = md_path = None
    if "html" in formats:
        html_path = out / "index.html"
        html_path.write_text(render_html(sections, title, subtitle), encoding="utf-8")
    if "md" in formats:
        md_path = out / "report.md"
        md_path.write_text(render_markdown(sections, title, subtitle), encoding="utf-8")
    return Written(html_path, md_path, figures, tables)
