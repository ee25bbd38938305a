"""The nnU-Net export of a run read back by our own nnU-Net reader: same images, masks and splits."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from benchmark.cli import app
from benchmark.data.readers import load_dataset
from benchmark.data.splits import Ratio, Splits, make_splits
from benchmark.core.errors import BenchmarkError
from benchmark.run.folder import rundata
from benchmark.export.nnunet import export_nnunet
from benchmark.run.folder.store import RunStore


def make_run(root: Path, n: int = 20, size: int = 16) -> rundata.RunData:
    """A run folder holding only what the export reads: prepared data (z-scored floats) and splits."""
    rng = np.random.default_rng(0)
    ids = [f"img{k}" for k in range(n)]
    data = rundata.RunData(ids=ids, groups=[""] * n,
                           images=rng.normal(size=(n, size, size)).astype(np.float32),
                           masks=rng.random((n, size, size)) < 0.2,
                           extra=np.zeros((0, size, size), np.float32), fingerprint="f")
    store = RunStore(root)
    rundata.save(store.prepared_path, data)
    make_splits(ids, [Ratio.parse("60:20"), Ratio.parse("70:10")], seed=1, fingerprint="f").save(store.splits_path)
    return data


def test_export_reads_back_as_the_same_images_masks_and_splits(tmp_path):
    data = make_run(tmp_path / "run")
    splits = Splits.load(RunStore(tmp_path / "run").splits_path)
    export = export_nnunet(tmp_path / "run", tmp_path / "Dataset501_Angio")
    assert (export.train_cases, export.test_cases) == (16, 4)
    back = load_dataset(tmp_path / "Dataset501_Angio")  # auto-detects the nnU-Net layout
    assert sorted(back.ids) == sorted(data.ids)
    assert [i for i, g in zip(back.ids, back.groups) if g == "test"] == splits.test
    for k, case in enumerate(back.ids):
        image, mask = back[k]
        assert image.dtype == np.float32
        np.testing.assert_array_equal(image, data.images[data.ids.index(case)])  # bit-identical
        np.testing.assert_array_equal(mask, data.masks[data.ids.index(case)])
    root = tmp_path / "Dataset501_Angio"
    folds = json.loads((root / "splits_final_folds.json").read_text())
    entries = json.loads((root / "splits_final.json").read_text())
    read = {fold["ratio"]: entries[fold["fold"]] for fold in folds}
    assert list(read) == [name for name, _ in splits.labelled_sets()]
    for name, split in splits.labelled_sets():
        assert (read[name]["train"], read[name]["val"]) == (split.finetune_train, split.finetune_val)


def test_export_writes_nnunet_metadata_and_one_fold_per_ratio(tmp_path):
    make_run(tmp_path / "run")
    export_nnunet(tmp_path / "run", tmp_path / "out")
    meta = json.loads((tmp_path / "out" / "dataset.json").read_text())
    assert meta["file_ending"] == ".tif" and meta["numTraining"] == 16
    assert meta["labels"] == {"background": 0, "vessel": 1} and len(meta["channel_names"]) == 1
    folds = json.loads((tmp_path / "out" / "splits_final_folds.json").read_text())
    assert [(f["fold"], f["ratio"]) for f in folds] == [(0, "60:20"), (1, "70:10")]
    entries = json.loads((tmp_path / "out" / "splits_final.json").read_text())
    assert [sorted(e) for e in entries] == [["train", "val"]] * 2
    counts = {part: len(list((tmp_path / "out" / part).iterdir())) for part in ("imagesTr", "labelsTr", "imagesTs", "labelsTs")}
    assert counts == {"imagesTr": 16, "labelsTr": 16, "imagesTs": 4, "labelsTs": 4}


def test_export_refuses_a_folder_that_is_not_a_run_and_a_non_empty_out_leaving_nothing(tmp_path):
    with pytest.raises(BenchmarkError, match=r"prepared\.npz: missing"):
        export_nnunet(tmp_path / "nothing", tmp_path / "out")
    make_run(tmp_path / "run")
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "keep.txt").write_text("mine")
    with pytest.raises(BenchmarkError, match=r"busy: exists and is not an empty folder"):
        export_nnunet(tmp_path / "run", tmp_path / "busy")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["busy", "run"]
    assert [p.name for p in (tmp_path / "busy").iterdir()] == ["keep.txt"]


def test_cli_export_nnunet_prints_the_folds(tmp_path):
    make_run(tmp_path / "run")
    result = CliRunner().invoke(app, ["data", "export-nnunet", str(tmp_path / "run"), str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "wrote 16 training and 4 test cases" in result.output
    assert "fold 1: ratio 70:10" in result.output
    again = CliRunner().invoke(app, ["data", "export-nnunet", str(tmp_path / "run"), str(tmp_path / "out")])
    assert again.exit_code == 2 and "not an empty folder" in again.output
