"""Everything a report reads from a run folder, read once: config, rows, jobs, curves, data summary.

Only files are read (the store's readers, splits.json, the header of prepared.npz); no model is
built or run, so a report of a paper-sized run takes seconds and works on a laptop.
"""

from __future__ import annotations

import dataclasses
import tomllib
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from benchmark.data.splits import Ratio, Splits
from benchmark.core.errors import BenchmarkError
from benchmark.run.folder.job_status import Budget, Health, Provenance
from benchmark.run.plan.job_identity import FROZEN_ENCODER
from benchmark.run.folder.store import RunStore, load_jobs, load_loss_curves, load_results
from reports.labels import order_ratios

BUDGET_FIELDS = tuple(f.name for f in dataclasses.fields(Budget))  # each job's budget, from its status.json
HEALTH_FIELDS = tuple(f.name for f in dataclasses.fields(Health))  # each job's pretext and transfer health


@dataclass(frozen=True)
class Grid:
    """The method × ratio × seed cells the run's config asks for (empty where the config is silent)."""

    methods: tuple[str, ...] = ()
    ratios: tuple[str, ...] = ()
    seeds: tuple[int, ...] = ()


@dataclass(frozen=True)
class DatasetSummary:
    n_images: int | None = None
    image_shape: tuple[int, ...] | None = None
    n_unlabelled: int | None = None
    n_test: int | None = None
    split_sizes: dict[str, dict[str, int]] = field(default_factory=dict)  # ratio → part → count, smallest FT first
    external_sizes: dict[str, int] = field(default_factory=dict)  # external test set → images
    problems: tuple[str, ...] = ()
    labelled_per_seed: bool | None = None  # each seed its own labelled images (None: no splits file)


@dataclass(frozen=True)
class RunContents:
    run_dir: Path
    config_text: str
    grid: Grid
    rows: pd.DataFrame  # load_results (benchmark.run.folder.row_schema): the run's own test split, ratio labels normalised
    jobs: pd.DataFrame  # load_jobs + params, git_commit, versions, BUDGET_FIELDS, HEALTH_FIELDS from each status.json
    loss_curves: pd.DataFrame  # load_loss_curves + ratio of the pre-training job
    dataset: DatasetSummary
    external_rows: pd.DataFrame = field(default_factory=pd.DataFrame)  # rows of the external test sets
    #: The frozen-encoder probe's rows when the run also fine-tuned (`evaluation = "both"`); the report
    #: sets them beside the fine-tuned ones (reports.tables.evaluations). `rows` hold one evaluation only.
    probe_rows: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def store(self) -> RunStore:
        return RunStore(self.run_dir)


def read_run(run_dir: Path | str) -> RunContents:
    """Read a run folder; a missing folder or one without config.toml is a BenchmarkError."""
    run_dir = Path(run_dir)
    jobs = load_jobs(run_dir)  # raises BenchmarkError for a missing or foreign folder
    store = RunStore(run_dir)
    config_text = store.config_path.read_text()
    rows, external = (_normal_rows(load_results(run_dir, sets)) for sets in ("in-domain", "external"))
    rows, probe = split_evaluations(rows)
    external = external[external["evaluation"] != FROZEN_ENCODER] if probe.size else external
    jobs = _with_status_details(store, jobs)
    curves = load_loss_curves(run_dir)
    curves = curves.merge(jobs[["job_key", "ratio", "pt_ratio"]], on="job_key", how="left")
    return RunContents(run_dir, config_text, _grid(config_text, store.config_path), rows, jobs, curves,
                       _dataset_summary(store), external, probe)


def split_evaluations(rows: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The rows the report's tables are about (the fine-tuned ones, or the probe's in a probe-only
    run) and the frozen-encoder probe's rows when both are there (empty otherwise)."""
    if rows.empty or "evaluation" not in rows:
        return rows, rows.iloc[0:0]
    probe = rows["evaluation"] == FROZEN_ENCODER
    if probe.all() or not probe.any():
        return rows, rows.iloc[0:0]
    return rows[~probe].reset_index(drop=True), rows[probe].reset_index(drop=True)


def _normal_rows(rows: pd.DataFrame) -> pd.DataFrame:
    return rows.assign(ratio=rows["ratio"].map(_normal_ratio)) if not rows.empty else rows


def _normal_ratio(label: object) -> str:
    return Ratio.parse(str(label)).label


def _grid(config_text: str, path: Path) -> Grid:
    try:
        table = tomllib.loads(config_text)
    except tomllib.TOMLDecodeError as error:
        raise BenchmarkError(f"{path}: does not parse as TOML ({error})") from None
    return Grid(  # the methods and the contenders pre-trained outside the run (--pretrained)
        methods=tuple(str(m) for m in [*table.get("methods", ()), *table.get("pretrained", {})]),
        ratios=tuple(_normal_ratio(r) for r in table.get("ratios", ())),
        seeds=tuple(int(s) for s in table.get("seeds", ())),
    )


def _with_status_details(store: RunStore, jobs: pd.DataFrame) -> pd.DataFrame:
    """Add what load_jobs leaves out: parameter count, provenance, budget (steps, images seen, lr,
    FLOPs) and health (pretext loss against chance, encoder shift) of each job; None where the job
    did not record it."""
    details = []
    for key in jobs["job_key"]:
        status = store.read_status(key)
        made = status.provenance or Provenance()
        outcome = status.outcome
        budget = outcome.budget() if outcome is not None else Budget()
        health = outcome.health() if outcome is not None else Health()
        details.append({"params": outcome.params if outcome is not None else None, "git_commit": made.git_commit,
                        "versions": made.versions, **dataclasses.asdict(budget), **dataclasses.asdict(health)})
    extra = pd.DataFrame(details, columns=["params", "git_commit", "versions", *BUDGET_FIELDS, *HEALTH_FIELDS],
                         index=jobs.index)
    jobs = pd.concat([jobs, extra], axis=1)
    if not jobs.empty:
        jobs["ratio"] = jobs["ratio"].map(_normal_ratio)
    return jobs


def _dataset_summary(store: RunStore) -> DatasetSummary:
    problems: list[str] = []
    n_images = shape = n_unlabelled = n_test = per_seed = None
    external: dict[str, int] = {}
    sizes: dict[str, dict[str, int]] = {}
    if store.prepared_path.is_file():
        try:
            n_images, *side = _npz_shape(store.prepared_path, "images")
            shape = tuple(side)
            n_unlabelled = _npz_shape(store.prepared_path, "extra")[0]
            external = _external_sizes(store.prepared_path)
        except (OSError, KeyError, ValueError, zipfile.BadZipFile) as error:
            problems.append(f"{store.prepared_path}: not readable ({error})")
    else:
        problems.append(f"{store.prepared_path}: not found")
    if store.splits_path.is_file():
        try:
            splits = Splits.load(store.splits_path)
            n_test = len(splits.test)
            parts = {_normal_ratio(label): p for label, p in splits.one_seeds_sets().items()}
            per_seed = splits.per_seed
            sizes = {label: {"pre-train": len(parts[label].pretrain), "fine-tune train": len(parts[label].finetune_train),
                             "fine-tune validation": len(parts[label].finetune_val)} for label in order_ratios(parts)}
        except BenchmarkError as error:
            problems.append(str(error))
    else:
        problems.append(f"{store.splits_path}: not found")
    return DatasetSummary(n_images, shape, n_unlabelled, n_test, sizes, external, tuple(problems), per_seed)


def _external_sizes(path: Path) -> dict[str, int]:
    """External test set → image count, from prepared.npz's (small) name list and the arrays' headers."""
    with np.load(path) as arrays:
        names = arrays["external_names"].tolist() if "external_names" in arrays.files else []
    return {str(name): _npz_shape(path, f"external{n}_images")[0] for n, name in enumerate(names)}


def _npz_shape(path: Path, name: str) -> tuple[int, ...]:
    """The shape of one array of an .npz from its header, without loading the (large) array."""
    with zipfile.ZipFile(path) as archive, archive.open(f"{name}.npy") as handle:
        version = np.lib.format.read_magic(handle)
        read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, _, _ = read(handle)
    return tuple(int(s) for s in shape)
