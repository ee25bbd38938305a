"""A table as display text plus its numbers, rendered to Markdown, LaTeX, HTML and CSV.

The text renderers share the same cells and bold marks, so the page, the paper and the notes show
the same table; the CSV carries the unrounded numbers for anyone who re-analyses them.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from benchmark.core.files import atomic_write_bytes

_LATEX_ESCAPES = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}
_LATEX_SYMBOLS = {"±": r"$\pm$", "†": r"$^{\dagger}$", "‡": r"$^{\ddagger}$", "−": r"$-$", "Δ": r"$\Delta$",
                  "→": r"$\rightarrow$", "—": "---", "–": "--", "×": r"$\times$", "≥": r"$\geq$", "<": r"$<$",
                  ">": r"$>$", "|": r"$|$", "↑": r"$\uparrow$", "↓": r"$\downarrow$"}


@dataclass(frozen=True)
class Table:
    name: str  # file stem
    title: str
    columns: tuple[str, ...]
    cells: tuple[tuple[str, ...], ...]  # display text, one tuple per row
    bold: frozenset[tuple[int, int]]  # (row, column) of cells shown in bold
    notes: tuple[str, ...]
    data: pd.DataFrame  # the numbers behind the cells, for the CSV
    #: Notes several tables share (what ↑/↓ mean, how intervals are made): under the table in its own
    #: files, but once for the whole page (`reports.render.html`), not repeated under every table.
    shared_notes: tuple[str, ...] = ()

    def is_bold(self, row: int, column: int) -> bool:
        return (row, column) in self.bold

    @property
    def all_notes(self) -> tuple[str, ...]:
        return self.notes + self.shared_notes


def to_markdown(table: Table) -> str:
    def cell(text: str, row: int, column: int) -> str:
        text = text.replace("|", r"\|")
        return f"**{text}**" if table.is_bold(row, column) and text else text

    lines = [f"**{table.title}**", "", "| " + " | ".join(table.columns) + " |",
             "|" + "|".join(["---"] + ["---:"] * (len(table.columns) - 1)) + "|"]
    lines += ["| " + " | ".join(cell(t, r, c) for c, t in enumerate(row)) + " |" for r, row in enumerate(table.cells)]
    return "\n".join(lines + [""] + [f"{note}  " for note in table.all_notes]) + "\n"


def latex_text(text: str) -> str:
    """Plain text (with the few symbols the tables use) as LaTeX."""
    return "".join(_LATEX_SYMBOLS.get(ch, _LATEX_ESCAPES.get(ch, ch)) for ch in text)


def to_latex(table: Table) -> str:
    """A booktabs table; the notes go under it in small type."""
    def cell(text: str, row: int, column: int) -> str:
        text = latex_text(text)
        return rf"\textbf{{{text}}}" if table.is_bold(row, column) and text else text

    lines = [r"\begin{table}[t]", r"\centering", rf"\caption{{{latex_text(table.title)}}}",
             rf"\label{{tab:{table.name}}}", r"\begin{tabular}{l" + "r" * (len(table.columns) - 1) + "}",
             r"\toprule", " & ".join(latex_text(c) for c in table.columns) + r" \\", r"\midrule"]
    lines += [" & ".join(cell(t, r, c) for c, t in enumerate(row)) + r" \\" for r, row in enumerate(table.cells)]
    lines += [r"\bottomrule", r"\end{tabular}"]
    if table.all_notes:
        lines += [r"\par\smallskip\footnotesize " + " ".join(latex_text(n) for n in table.all_notes)]
    return "\n".join(lines + [r"\end{table}"]) + "\n"


def to_html(table: Table) -> str:
    """The table and its own notes; the page shows its shared notes once (see Table.shared_notes)."""
    def cell(text: str, row: int, column: int) -> str:
        text = html.escape(text)
        return f"<strong>{text}</strong>" if table.is_bold(row, column) and text else text

    head = "".join(f"<th>{html.escape(c)}</th>" for c in table.columns)
    body = "".join("<tr>" + "".join(f"<td>{cell(t, r, c)}</td>" for c, t in enumerate(row)) + "</tr>"
                   for r, row in enumerate(table.cells))
    notes = "".join(f'<p class="note">{html.escape(n)}</p>' for n in table.notes)
    return (f'<table id="table-{html.escape(table.name)}"><caption>{html.escape(table.title)}</caption>'
            f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{notes}")


def to_csv(table: Table) -> str:
    return table.data.to_csv(index=False)


TABLE_FILES = {".md": to_markdown, ".tex": to_latex, ".csv": to_csv}


def write_table(table: Table, folder: Path) -> list[Path]:
    """table.md, table.tex and table.csv in `folder`."""
    written = []
    for suffix, render in TABLE_FILES.items():
        path = folder / f"{table.name}{suffix}"
        atomic_write_bytes(path, render(table).encode())
        written.append(path)
    return written
