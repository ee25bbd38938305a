"""previews.npz: one typed record per job kind, written and read through benchmark.run.folder.previews."""

import numpy as np
import pytest

from benchmark.core.errors import BenchmarkError
from benchmark.run.folder.previews import PredictionPreview, PretextPreview, preview_bytes, read_preview


def _write(path, preview):
    path.write_bytes(preview_bytes(preview))
    return path


def test_a_prediction_preview_reads_back_as_one_with_the_same_arrays(tmp_path):
    masks = np.zeros((2, 4, 4), bool)
    masks[0, 1, 1] = True
    written = PredictionPreview(ids=np.array(["a", "b"]), image=np.arange(32.0).reshape(2, 4, 4), mask=masks,
                                pred=~masks)
    read = read_preview(_write(tmp_path / "previews.npz", written))
    assert isinstance(read, PredictionPreview)
    assert read.ids.tolist() == ["a", "b"] and read.mask[0, 1, 1] and read.mask.sum() == 1
    assert np.array_equal(read.image, written.image) and np.array_equal(read.pred, ~masks)


def test_a_pretext_preview_without_pretext_arrays_keeps_them_absent(tmp_path):
    target = np.ones((3, 1, 4, 4), np.float32)
    read = read_preview(_write(tmp_path / "previews.npz", PretextPreview(target=target)))
    assert isinstance(read, PretextPreview)
    assert read.input is None and read.output is None and read.target.shape == (3, 1, 4, 4)
    full = PretextPreview.from_method(target, {"input": 0 * target, "output": 2 * target})
    read = read_preview(_write(tmp_path / "full.npz", full))
    assert read.output.sum() == 2 * 3 * 16 and read.input.sum() == 0


def test_a_method_preview_with_names_the_galleries_do_not_draw_is_refused():
    with pytest.raises(BenchmarkError, match=r"\['mask'\]: only 'input' and 'output'"):
        PretextPreview.from_method(np.zeros((1, 1, 2, 2)), {"output": np.zeros((1, 1, 2, 2)), "mask": np.zeros(1)})


def test_no_file_is_no_preview_and_a_foreign_file_is_named(tmp_path):
    assert read_preview(tmp_path / "missing.npz") is None
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, weights=np.zeros(3))
    with pytest.raises(BenchmarkError, match=r"foreign\.npz: previews with arrays \['weights'\]"):
        read_preview(foreign)
