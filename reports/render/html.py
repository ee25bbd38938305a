"""The report page: one self-contained HTML file (figures inlined as base64 PNG, no external asset),
so it opens offline and can be sent as a single attachment."""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass

import pandas as pd

from reports.read.contents import DatasetSummary
from reports.tables.table_format import Table, to_html

STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;max-width:1180px;margin:2em auto;
padding:0 1em;color:#222;line-height:1.45}
h1{font-size:1.6em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:2em}
figure{margin:1.5em 0}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.92em;color:#444;margin-top:.4em}
table{border-collapse:collapse;margin:1em 0;font-size:.9em}caption{font-weight:bold;text-align:left;padding:.3em 0}
th,td{border-bottom:1px solid #ddd;padding:.25em .7em;text-align:right}th:first-child,td:first-child{text-align:left}
thead th{border-bottom:2px solid #888}.note{font-size:.85em;color:#555;margin:.2em 0}
pre{background:#f6f6f6;padding:1em;overflow-x:auto;font-size:.82em}
.warn{background:#fff4e5;border-left:4px solid #e69500;padding:.6em 1em}.control{background:#eaf6ea;border-left:4px solid #2a7a2a;padding:.6em 1em}.ok{color:#2a7a2a}
td.error{text-align:left;font-family:monospace;font-size:.85em;white-space:pre-wrap}
"""


@dataclass(frozen=True)
class PageFigure:
    name: str
    title: str
    caption: str
    png: bytes


@dataclass(frozen=True)
class Page:
    title: str
    run_dir: str
    control: str | None  # a detected positive control that vouches for the run (reports.words.answer), shown first
    warning: str | None  # the smoke-test warning, or the caveat under such a control
    answer: tuple[str, ...]  # one paragraph per ratio (who leads, whether the run can tell), then imported weights
    reading: tuple[str, ...]  # plain words for seeds, controls and power
    summary: tuple[str, ...]  # the bookkeeping under the answer
    figures: tuple[PageFigure, ...]
    tables: tuple[Table, ...]
    missing: tuple[str, ...]
    state_counts: dict[str, int]
    unsuccessful: pd.DataFrame  # failed and skipped jobs with errors
    dataset: DatasetSummary
    config_text: str
    provenance: dict[str, list[str]]  # field → distinct values found in the jobs


def _escape(text: object) -> str:
    return html.escape(str(text))


def _figure(figure: PageFigure) -> str:
    data = base64.b64encode(figure.png).decode("ascii")
    return (f'<figure id="figure-{_escape(figure.name)}"><img alt="{_escape(figure.title)}" '
            f'src="data:image/png;base64,{data}"><figcaption><strong>{_escape(figure.title)}.</strong> '
            f"{_escape(figure.caption)}</figcaption></figure>")


def _missing(page: Page) -> str:
    if not page.missing:
        return '<p class="ok">Nothing is missing: every expected result is in the rows.</p>'
    items = "".join(f"<li>{_escape(m)}</li>" for m in page.missing)
    return f'<div class="warn"><p>This report is partial. Missing or failed:</p><ul>{items}</ul></div>'


def _jobs(page: Page) -> str:
    counts = "".join(f"<tr><td>{_escape(s)}</td><td>{n}</td></tr>" for s, n in page.state_counts.items())
    parts = [f"<table><caption>Jobs per state</caption><thead><tr><th>state</th><th>jobs</th></tr></thead>"
             f"<tbody>{counts}</tbody></table>"]
    if page.unsuccessful.empty:
        parts.append('<p class="ok">No job failed or was skipped.</p>')
    else:
        head = "".join(f"<th>{_escape(c)}</th>" for c in page.unsuccessful.columns)
        body = "".join("<tr>" + "".join(
            f'<td class="error">{_escape(v)}</td>' if c == "error" else f"<td>{_escape(v)}</td>"
            for c, v in row.items()) + "</tr>" for _, row in page.unsuccessful.iterrows())
        parts.append(f'<table id="failed-jobs"><caption>Failed and skipped jobs</caption><thead><tr>{head}</tr>'
                     f"</thead><tbody>{body}</tbody></table>")
    return "".join(parts)


def _dataset(summary: DatasetSummary) -> str:
    facts = [("labelled images", summary.n_images),
             ("image size (px)", " × ".join(map(str, summary.image_shape)) if summary.image_shape else None),
             ("unlabelled images (pre-training only)", summary.n_unlabelled), ("test images", summary.n_test),
             *((f"external test set {name} (scored only)", count) for name, count in summary.external_sizes.items())]
    rows = "".join(f"<tr><td>{_escape(k)}</td><td>{_escape(v)}</td></tr>" for k, v in facts if v is not None)
    parts = [f"<table><caption>Data</caption><tbody>{rows}</tbody></table>"] if rows else []
    if summary.split_sizes:
        names = list(next(iter(summary.split_sizes.values())))
        head = "".join(f"<th>{_escape(n)}</th>" for n in ["PT:FT", *names])
        body = "".join(f"<tr><td>{_escape(r)}</td>" + "".join(f"<td>{sizes[n]}</td>" for n in names) + "</tr>"
                       for r, sizes in summary.split_sizes.items())
        parts.append(f"<table><caption>Split sizes (images)</caption><thead><tr>{head}</tr></thead>"
                     f"<tbody>{body}</tbody></table>")
    parts += [f'<p class="note">{_escape(p)}</p>' for p in summary.problems]
    return "".join(parts)


def _provenance(provenance: dict[str, list[str]]) -> str:
    rows = "".join(f"<tr><td>{_escape(k)}</td><td>{'<br>'.join(_escape(v) for v in values) or '—'}</td></tr>"
                   for k, values in provenance.items())
    return f"<table><tbody>{rows}</tbody></table>"


def _answer(page: Page) -> str:
    control = f'<p class="control">{_escape(page.control)}</p>' if page.control else ""
    warning = f'<p class="warn">{_escape(page.warning)}</p>' if page.warning else ""
    paragraphs = "".join(f"<p>{_escape(p)}</p>" for p in page.answer) or "<p>No fine-tune job has finished yet.</p>"
    return control + warning + paragraphs


def _reading(page: Page) -> str:
    """The plain words, then each note the tables share, once."""
    shared = dict.fromkeys(note for table in page.tables for note in table.shared_notes)
    return "".join(f"<p>{_escape(p)}</p>" for p in page.reading) + "".join(
        f'<p class="note">{_escape(n)}</p>' for n in shared)


def render_page(page: Page) -> str:
    summary = "".join(f"<li>{_escape(line)}</li>" for line in page.summary)
    figures = "".join(_figure(f) for f in page.figures) or "<p>No figure could be drawn from this run yet.</p>"
    tables = "".join(to_html(t) for t in page.tables) or "<p>No table could be computed from this run yet.</p>"
    sections = [
        ("answer", "What this run says", _answer(page)),
        ("summary", "Details", f"<ul>{summary}</ul>"),
        ("missing", "Missing results", _missing(page)),
        ("figures", "Figures", figures),
        ("tables", "Tables", tables),
        ("reading", "How to read the numbers", _reading(page)),
        ("jobs", "Job status", _jobs(page)),
        ("dataset", "Dataset", _dataset(page.dataset)),
        ("configuration", "Configuration (config.toml)", f"<pre>{_escape(page.config_text)}</pre>"),
        ("provenance", "Provenance", _provenance(page.provenance)),
    ]
    body = "".join(f'<section id="{sid}"><h2>{_escape(title)}</h2>{content}</section>'
                   for sid, title, content in sections)
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{_escape(page.title)}</title>'
            f"<style>{STYLE}</style></head><body><h1>{_escape(page.title)}</h1>"
            f'<p class="note">Run folder: <code>{_escape(page.run_dir)}</code></p>{body}</body></html>\n')
