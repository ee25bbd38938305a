"""`build_report`: the study's figures, tables and page for a run folder, reused while nothing they
read has changed.

Drawing every figure takes ~10 s on two cores, and a re-run with nothing to do, or `angiobench
report` on a run whose rows did not change, would redraw the same pixels. So each build stores the
digest of its inputs (the files the report reads, its options, its own code) in RECORD_NAME next to
the report, and a later call with the same digest, whose files are all still there, returns the
stored result without drawing. This module imports only the standard library and the harness's
lowest modules; the drawing code (matplotlib, seaborn, scipy) is imported when a build is needed.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

from benchmark.core.files import atomic_write_json
from benchmark.run.folder import layout
from benchmark.run.folder.looks import LOOKS
from reports.result import ReportResult, check_formats

RECORD_NAME = ".build.json"
RECORD_VERSION = 1
#: What a report reads from a run folder (reports.read.contents.read_run and the galleries): checkpoints and
#: logs it never opens, so they do not count; prepared.npz counts by its members' CRC-32s.
RUN_INPUTS = (layout.CONFIG, layout.SPLITS, LOOKS)
JOB_INPUTS = layout.REPORT_INPUTS
PREPARED = layout.PREPARED
REPORT_CODE = Path(__file__).parent


@dataclass(frozen=True)
class ReportOptions:
    """Everything besides the run folder's files that decides what a report holds."""

    out_dir: Path
    ratio: str | None
    method: str | None
    formats: tuple[str, ...]


def _npz_members(path: Path) -> bytes:
    """Name, CRC-32 and size of each array of an .npz, from the zip's directory: they change with
    any array, and reading them costs nothing however large the arrays are."""
    try:
        with zipfile.ZipFile(path) as archive:
            return repr(sorted((i.filename, i.CRC, i.file_size) for i in archive.infolist())).encode()
    except (OSError, zipfile.BadZipFile) as error:
        return f"unreadable: {error}".encode()  # the report says so; the digest only has to be stable


def _add_file(digest: hashlib._Hash, name: str, path: Path, content: bytes | None = None) -> None:
    """Name and content of one input, or that it is absent: a file that appears or goes counts too."""
    if content is None:
        content = path.read_bytes() if path.is_file() else None
    digest.update(name.encode() + b"\0")
    digest.update(b"absent\0" if content is None else len(content).to_bytes(8, "little") + content)


def input_digest(run_dir: Path, options: ReportOptions) -> str:
    """sha256 of what a report of `run_dir` depends on: RUN_INPUTS, prepared.npz's members, every
    job folder's JOB_INPUTS, the resolved run and output folders, the options and reports/*.py."""
    digest = hashlib.sha256()
    root = run_dir.resolve()
    plain = {**asdict(options), "out_dir": str(options.out_dir.resolve()), "run_dir": str(root)}
    digest.update(json.dumps(plain, sort_keys=True).encode())
    for code in sorted(REPORT_CODE.glob("*.py")):
        _add_file(digest, f"code/{code.name}", code)
    for name in RUN_INPUTS:
        _add_file(digest, name, root / name)
    prepared = root.joinpath(*PREPARED)
    _add_file(digest, "/".join(PREPARED), prepared, _npz_members(prepared) if prepared.is_file() else None)
    jobs = root / layout.JOBS
    for job in sorted(p for p in jobs.iterdir() if p.is_dir()) if jobs.is_dir() else []:
        for name in JOB_INPUTS:
            _add_file(digest, f"jobs/{job.name}/{name}", job / name)
    return digest.hexdigest()


@dataclass(frozen=True)
class BuildRecord:
    """What RECORD_NAME holds: the inputs' digest and the result, paths relative to the report."""

    digest: str
    result: ReportResult

    def save(self) -> None:
        out = self.result.out_dir

        def relative(paths: list[Path]) -> list[str]:
            return [str(p.relative_to(out)) for p in paths]

        atomic_write_json(out / RECORD_NAME, {
            "version": RECORD_VERSION, "digest": self.digest, "index_html": str(self.result.index_html.relative_to(out)),
            "figures": relative(self.result.figures), "tables": relative(self.result.tables),
            "missing": self.result.missing, "summary": self.result.summary})

    @staticmethod
    def load(out: Path) -> BuildRecord | None:
        """The record in `out`; None when there is none or it is unreadable (then the report is rebuilt)."""
        try:
            plain = json.loads((out / RECORD_NAME).read_text())
            if plain.get("version") != RECORD_VERSION:
                return None
            result = ReportResult(out, out / plain["index_html"], [out / p for p in plain["figures"]],
                                  [out / p for p in plain["tables"]], list(plain["missing"]), list(plain["summary"]))
            return BuildRecord(str(plain["digest"]), result)
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None


def reusable_result(out: Path, digest: str) -> ReportResult | None:
    """The stored result when it was built from inputs with this digest and none of its files is missing."""
    record = BuildRecord.load(out)
    if record is None or record.digest != digest or not all(p.is_file() for p in record.result.files()):
        return None
    return record.result


def build_report(run_dir: Path, out_dir: Path | None = None, ratio: str | None = None, method: str | None = None,
                 formats: tuple[str, ...] = ("png", "pdf")) -> ReportResult:
    """Write the figures (in `formats`), the tables (Markdown, LaTeX, CSV) and index.html to `out_dir`
    (default RUN_DIR/report), or return the report already there when its inputs did not change.
    `ratio` picks Table I's ratio (default: the smallest fine-tuning share), `method` the diameter
    figure's method (default: cmunet, else the best at the smallest share)."""
    run_dir = Path(run_dir)
    out = Path(out_dir) if out_dir is not None else run_dir / "report"
    options = ReportOptions(out, ratio, method, check_formats(formats))
    digest = input_digest(run_dir, options)
    reused = reusable_result(out, digest)
    if reused is not None:
        return reused
    (out / RECORD_NAME).unlink(missing_ok=True)  # a build that fails half-way must not look finished
    # matplotlib, seaborn and scipy: imported only when drawing
    from reports.render.draw import draw_report

    result = draw_report(run_dir, out, ratio, method, options.formats)
    BuildRecord(digest, result).save()
    return result
