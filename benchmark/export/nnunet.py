"""`angiobench data export-nnunet`: a run's prepared data in nnU-Net's raw format, with our splits.

So a user can train nnU-Net 2D on exactly the labels each of our fine-tuning ratios had and compare
its test Dice with our table; angiobench does not depend on nnU-Net.

    OUT/dataset.json                 nnU-Net v2 metadata (one channel, labels background 0 / vessel 1)
    OUT/imagesTr/CASE_0000.tif       the pool (every image outside the test split), float32
    OUT/labelsTr/CASE.tif            its masks, uint8 0/1
    OUT/imagesTs/, OUT/labelsTs/     the run's test split, the same way
    OUT/splits_final.json            one nnU-Net "fold" per ratio (and seed, with splits per seed):
                                     {"train": FT train ids, "val": FT val ids}
    OUT/splits_final_folds.json      fold index → "79:1" or "79:1 seed 3", with the set sizes

Images are the run's pre-processed pixels (z-scored float32), stored as 32-bit float TIFF: lossless,
so they read back bit-identically (a 16-bit PNG would quantise them), and nnU-Net's 2-D image reader
(NaturalImage2DIO) takes `.tif`. Everything is written into a temporary sibling folder that is renamed
to OUT at the end, so a failed export leaves nothing behind.
"""

from __future__ import annotations

import io
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from benchmark.data.readers.nnunet import NNUNET_CHANNEL
from benchmark.data.splits import Splits
from benchmark.core.errors import BenchmarkError
from benchmark.core.files import atomic_write_bytes, atomic_write_json, staged_folder
from benchmark.run.folder import rundata
from benchmark.run.folder.rundata import RunData
from benchmark.run.folder.store import RunStore

FILE_ENDING = ".tif"
SPLITS_FILE = "splits_final.json"
FOLDS_FILE = "splits_final_folds.json"


@dataclass(frozen=True)
class ExportFold:
    """One entry of splits_final.json: which ratio's fine-tuning set it holds."""

    fold: int
    ratio: str
    train: int
    val: int


@dataclass(frozen=True)
class NnunetExport:
    """What an export wrote: where, how many cases in each part, and the folds."""

    root: Path
    train_cases: int
    test_cases: int
    folds: tuple[ExportFold, ...]


def _tiff(array: np.ndarray, mode: str) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array, mode=mode).save(buffer, format="TIFF")
    return buffer.getvalue()


def _check_case_ids(ids: list[str]) -> None:
    """Case ids become file names; one that is not a plain name would write elsewhere."""
    bad = [i for i in ids if not i or i.startswith(".") or "/" in i or "\\" in i or os.sep in i]
    if bad:
        raise BenchmarkError(f"image ids {bad[:5]} cannot be nnU-Net case names (file names)")


def _write_cases(root: Path, part: str, data: RunData, ids: list[str]) -> None:
    for index, case in zip(data.index(ids), ids):
        image = np.ascontiguousarray(data.images[index], dtype=np.float32)
        mask = data.masks[index].astype(np.uint8)
        atomic_write_bytes(root / f"images{part}" / f"{case}{NNUNET_CHANNEL}{FILE_ENDING}", _tiff(image, "F"))
        atomic_write_bytes(root / f"labels{part}" / f"{case}{FILE_ENDING}", _tiff(mask, "L"))


def _dataset_json(name: str, train_cases: int, source: str) -> dict:
    return {
        "name": name,
        "description": f"exported by angiobench from {source}: pre-processed (z-scored) float32 pixels",
        "channel_names": {"0": "angiogram"},
        "labels": {"background": 0, "vessel": 1},
        "numTraining": train_cases,
        "file_ending": FILE_ENDING,
        "overwrite_image_reader_writer": "NaturalImage2DIO",
    }


def export_nnunet(run_dir: Path | str, out: Path | str) -> NnunetExport:
    """Write the run's prepared images, masks and fine-tuning splits to OUT in nnU-Net raw format."""
    store, out = RunStore(run_dir), Path(out)
    for path, what in ((store.prepared_path, "prepared data"), (store.splits_path, "splits")):
        if not path.is_file():
            raise BenchmarkError(f"{path}: missing ({what}); RUN_DIR must be a run folder that "
                                 "`angiobench run` has prepared")
    with staged_folder(out) as staging:  # OUT appears whole, or not at all
        data, splits = rundata.load(store.prepared_path), Splits.load(store.splits_path)
        _check_case_ids(data.ids)
        test = set(splits.test)
        pool = [i for i in data.ids if i not in test]
        folds = tuple(ExportFold(k, label, len(split.finetune_train), len(split.finetune_val))
                      for k, (label, split) in enumerate(splits.labelled_sets()))
        _write_cases(staging, "Tr", data, pool)
        _write_cases(staging, "Ts", data, [i for i in data.ids if i in test])
        atomic_write_json(staging / "dataset.json", _dataset_json(out.name, len(pool), str(store.root)))
        atomic_write_json(staging / SPLITS_FILE, [{"train": s.finetune_train, "val": s.finetune_val}
                                                  for _, s in splits.labelled_sets()])
        atomic_write_json(staging / FOLDS_FILE, [asdict(f) for f in folds])
    return NnunetExport(out, len(pool), len(test), folds)
