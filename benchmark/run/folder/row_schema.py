"""The result rows, defined once: one row per (fine-tune job, test set, test image), its columns in
order, their dtypes, and which columns identify a row.

The worker writes rows through `result_frame`, the store reads them back (`load_results`, an empty
frame of these columns when nothing is done) and puts every file's columns in the same order. Import-light (pandas only), so reading results needs no training stack.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from benchmark.core.errors import BenchmarkError
from benchmark.evaluate.metric_keys import METRIC_KEYS

_DTYPES = {str: "str", float: "float64", int: "int64", bool: "bool"}


@dataclass(frozen=True)
class Column:
    name: str
    dtype: str  # a pandas dtype name
    key: bool = False  # one of the columns that together identify a row


@dataclass(frozen=True)
class RowSource:
    """What every row of one job shares: the job, the fine-tune job its model is from (itself, for a
    fine-tune job), the grid cell, and the sizes of the sets the model saw."""

    job_key: str = field(metadata={"key": True})
    finetune_job: str
    method: str
    protocol: str
    #: job_identity.FINETUNE (the whole UNet trained) or FROZEN_ENCODER (the transferred encoder kept fixed,
    #: decoder and head trained: a probe of the representation itself)
    evaluation: str
    pt_ratio: float
    ft_ratio: float
    ratio: str
    seed: int
    params_finetune: int
    pretrained_from: str  # key of the pre-training job the model started from ("" = none)
    #: sha256 of the imported weights file (--pretrained) the model started from ("" = none): weights
    #: whose pre-training images the run does not know
    pretrained_sha256: str
    n_pretrain: int
    n_finetune_train: int
    n_finetune_val: int


@dataclass(frozen=True)
class RowProvenance:
    """Where the rows came from: code, packages, device, precision, compile switch and wall time."""

    git_commit: str
    versions: str
    device: str
    precision: str
    compiled: bool
    wall_time_s: float


def _columns(cls: type) -> tuple[Column, ...]:
    hints = typing.get_type_hints(cls)
    return tuple(Column(f.name, _DTYPES[hints[f.name]], bool(f.metadata.get("key"))) for f in dataclasses.fields(cls))


METRIC_COLUMNS: list[str] = list(METRIC_KEYS)  # a list: it indexes frames (rows[METRIC_COLUMNS])
ROW_COLUMNS: tuple[Column, ...] = (
    Column("image_id", "str", key=True),
    *(Column(name, "float64") for name in METRIC_KEYS),
    Column("test_set", "str", key=True),  # benchmark.data.external.IN_DOMAIN, or an external set's name
    Column("n_test", "int64"),  # images in the row's test set
    *_columns(RowSource),
    *_columns(RowProvenance),
)
ROW_NAMES: tuple[str, ...] = tuple(c.name for c in ROW_COLUMNS)
KEY_COLUMNS: tuple[str, ...] = tuple(c.name for c in ROW_COLUMNS if c.key)


def result_frame(scores: list[dict[str, float | str]], test_set: str, source: RowSource,
                 provenance: RowProvenance) -> pd.DataFrame:
    """The rows of one job scored on one test set, typed: `scores` holds each image's id and metrics."""
    shared = {**dataclasses.asdict(source), **dataclasses.asdict(provenance), "test_set": test_set,
              "n_test": len(scores)}
    frame = pd.DataFrame([{**score, **shared} for score in scores], columns=list(ROW_NAMES))
    return frame.astype({c.name: c.dtype for c in ROW_COLUMNS})


def conform(rows: pd.DataFrame, where: Path) -> pd.DataFrame:
    """`rows` (read from `where`) with the schema's columns first, in order; a file that lacks one is
    an error naming the file and the column."""
    missing = [name for name in ROW_NAMES if name not in rows.columns]
    if missing:
        raise BenchmarkError(f"{where}: no column {missing[0]!r} (rows of another harness version?)")
    return rows[[*ROW_NAMES, *(c for c in rows.columns if c not in ROW_NAMES)]]


def empty_rows() -> pd.DataFrame:
    """No rows, every column of the schema."""
    return pd.DataFrame({c.name: pd.Series(dtype=c.dtype) for c in ROW_COLUMNS})
