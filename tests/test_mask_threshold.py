"""`--mask-threshold T` / `data.mask_threshold`: grey (anti-aliased) masks binarised at T, only when
asked; a threshold outside 1–255 refused naming the option; T part of the data's identity."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from benchmark.cli import app
from benchmark.config.run_config import build_config
from benchmark.data.images import check_mask_threshold, read_mask
from benchmark.data.inspection import inspect_dataset
from benchmark.data.readers import load_dataset
from benchmark.data.synthetic import write_synthetic
from benchmark.core.errors import BenchmarkError
from benchmark.run.folder import rundata
from benchmark.run.execute import runner
from benchmark.run.folder.store import RunStore
from benchmark.config.options import resolve_run_config
from conftest import write_tiny_config

#: One pixel of each grey level: 0 and 100 background at T=128, 200 and 255 vessel.
GREY = np.array([[0, 100], [200, 255]], np.uint8)


def save(path, array, mode=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array, mode=mode).save(path)
    return path


def grey_folder(root):
    """imgs/a.png + masks/a.png (0/255), imgs/b.png + masks/b.png (GREY tiled: 0, 100, 200, 255)."""
    binary = np.zeros((8, 8), np.uint8)
    binary[:2] = 255
    for stem, mask in (("a", binary), ("b", np.tile(GREY, (4, 4)))):
        save(root / "imgs" / f"{stem}.png", np.full((8, 8), 50, np.uint8))
        save(root / "masks" / f"{stem}.png", mask)
    return root


@pytest.mark.parametrize("threshold, expected", [
    (128, [[False, False], [True, True]]),
    (100, [[False, True], [True, True]]),
    (201, [[False, False], [False, True]]),
    (255, [[False, False], [False, True]]),
])
def test_a_grey_mask_is_binarised_at_the_threshold_exactly(tmp_path, threshold, expected):
    path = save(tmp_path / "grey.png", GREY)
    np.testing.assert_array_equal(read_mask(path, threshold), np.array(expected))


def test_a_binary_mask_is_read_as_before_whatever_the_threshold(tmp_path):
    ones = save(tmp_path / "ones.png", np.array([[0, 1], [1, 0]], np.uint8))
    np.testing.assert_array_equal(read_mask(ones, 128), [[False, True], [True, False]])  # 1 < 128, still vessel
    hundred = save(tmp_path / "hundred.png", np.array([[0, 100], [100, 0]], np.uint8))
    np.testing.assert_array_equal(read_mask(hundred, 128), [[False, True], [True, False]])


def test_without_a_threshold_a_grey_mask_is_an_error_that_names_the_option(tmp_path):
    path = save(tmp_path / "grey.png", GREY)
    with pytest.raises(BenchmarkError, match=r"grey\.png: mask is not binary, found values 0, 100, 200, 255; .*"
                                             r"--mask-threshold T \(data\.mask_threshold; vessel = value ≥ T\)"):
        read_mask(path)


def test_a_16_bit_grey_mask_is_not_thresholded(tmp_path):
    path = save(tmp_path / "deep.png", np.array([[0, 1000], [5000, 0]], np.uint16))
    with pytest.raises(BenchmarkError, match=r"deep\.png: mask is not binary, found uint16 values 0, 1000, 5000; "
                                             r"--mask-threshold binarises 8-bit masks only"):
        read_mask(path, 128)


@pytest.mark.parametrize("threshold", [0, 256, -1, True, 12.5])
def test_a_threshold_outside_1_to_255_is_refused_naming_the_option(threshold):
    with pytest.raises(BenchmarkError, match=rf"^--mask-threshold {threshold!r}: expected an integer from 1 to 255"):
        check_mask_threshold(threshold, "--mask-threshold")


def test_the_ends_of_the_range_are_accepted():
    for threshold in (None, 1, 255):
        check_mask_threshold(threshold, "--mask-threshold")


def test_a_dataset_read_with_a_threshold_binarises_grey_masks_and_changes_its_fingerprint(tmp_path):
    root = grey_folder(tmp_path)
    plain = load_dataset(root)
    with pytest.raises(BenchmarkError, match=r"masks/b\.png: mask is not binary"):
        plain[1]
    at128, again, at200 = load_dataset(root, mask_threshold=128), load_dataset(root, mask_threshold=128), \
        load_dataset(root, "folder", 200)
    assert at128.ids == plain.ids == ["a", "b"]
    np.testing.assert_array_equal(at128[1][1], np.tile(GREY >= 128, (4, 4)))
    np.testing.assert_array_equal(at128[0][1], plain[0][1])
    assert at128.item(0).binarised is None and at128.item(1).binarised == root / "masks" / "b.png"
    assert len({plain.fingerprint, at128.fingerprint, at200.fingerprint}) == 3
    assert again.fingerprint == at128.fingerprint


def test_inspect_counts_and_names_the_binarised_masks(tmp_path):
    root = grey_folder(tmp_path)
    save(root / "imgs" / "c.png", np.full((8, 8), 50, np.uint8))
    save(root / "masks" / "c.png", np.tile(GREY, (4, 4)))
    report = inspect_dataset(root, mask_threshold=128)
    assert report.ok and report.binarised == ["masks/b.png", "masks/c.png"]
    assert report.vessel_fraction_mean == pytest.approx((0.25 + 0.5 + 0.5) / 3)
    lines = report.lines()
    assert "masks binarised at threshold 128 (vessel = value ≥ 128): 2" in lines
    assert [line for line in lines if line.startswith("binarised: ")] == ["binarised: masks/b.png",
                                                                          "binarised: masks/c.png"]


def test_inspect_without_a_threshold_lists_grey_masks_as_problems(tmp_path):
    report = inspect_dataset(grey_folder(tmp_path))
    assert not report.ok and report.binarised == [] and report.count == 2
    assert len(report.problems) == 1 and "b.png: mask is not binary" in report.problems[0]
    assert "--mask-threshold" in report.problems[0]
    assert not any(line.startswith(("binarised", "masks binarised")) for line in report.lines())


def _run(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def _one_error_line(result) -> str:
    assert result.exit_code != 0 and "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.output
    return errors[0]


def test_data_inspect_with_a_threshold_says_which_masks_it_binarised(tmp_path):
    result = _run("data", "inspect", grey_folder(tmp_path), "--mask-threshold", 128)
    assert result.exit_code == 0, result.output
    assert "binarised: masks/b.png" in result.output.splitlines() and "problems: none" in result.output


@pytest.mark.parametrize("threshold", [0, 256])
def test_data_inspect_refuses_a_threshold_outside_1_to_255(tmp_path, threshold):
    line = _one_error_line(_run("data", "inspect", grey_folder(tmp_path), "--mask-threshold", threshold))
    assert f"--mask-threshold {threshold}: expected an integer from 1 to 255" in line


@pytest.mark.parametrize("threshold", [0, 256])
def test_run_refuses_a_threshold_outside_1_to_255_and_writes_nothing(tmp_path, threshold):
    out = tmp_path / "run"
    result = _run("run", "--config", write_tiny_config(tmp_path), "--out", out, "--mask-threshold", threshold)
    assert f"--mask-threshold {threshold}: expected an integer from 1 to 255" in _one_error_line(result)
    assert not out.exists()


def test_the_config_key_is_checked_and_written_and_the_option_overrides_it(tmp_path):
    with pytest.raises(BenchmarkError, match=r"^config: data\.mask_threshold 0: expected an integer from 1 to 255"):
        build_config({"data": {"mask_threshold": 0}})
    config = build_config({"data": {"mask_threshold": 128}})
    assert config.data.mask_threshold == 128 and "mask_threshold = 128" in config.to_toml()
    assert "mask_threshold" not in build_config({}).to_toml()  # off: run folders of before keep their config
    path = write_tiny_config(tmp_path, data={"mask_threshold": 128})
    assert resolve_run_config(path, mask_threshold=64)[0].data.mask_threshold == 64


@pytest.fixture(scope="module")
def grey_run_source(tmp_path_factory):
    """50 synthetic angiograms as files; synth_0003's mask turned grey: vessel 255, and two 16×16
    blocks of background set to 100 (top left) and 200 (top right)."""
    root = write_synthetic(tmp_path_factory.mktemp("grey") / "synth", 50, 64, 0)
    path = root / "masks" / "synth_0003.png"
    mask = np.asarray(Image.open(path)).copy()
    mask[8:24, 8:24] = np.where(mask[8:24, 8:24] == 0, 100, 255)
    mask[8:24, 40:56] = np.where(mask[8:24, 40:56] == 0, 200, 255)
    Image.fromarray(mask).save(path)
    return root


def _config(tmp_path, source, threshold):
    path = write_tiny_config(tmp_path, methods=["supervised"])
    return resolve_run_config(path, data=str(source), mask_threshold=threshold)[0]


def test_the_threshold_is_part_of_what_identifies_the_prepared_data(tmp_path, grey_run_source):
    low, high = _config(tmp_path, grey_run_source, 100), _config(tmp_path, grey_run_source, 150)
    a, b = rundata.index_source(low), rundata.index_source(high)
    assert a.ids == b.ids and a.fingerprint != b.fingerprint
    keys_low = {job.key for job in runner.plan_run(low, tmp_path / "run")[1]}
    keys_high = {job.key for job in runner.plan_run(high, tmp_path / "run")[1]}
    assert keys_low and not keys_low & keys_high  # another threshold, other jobs: nothing is reused
    prepared_low, prepared_high = rundata.prepare(low), rundata.prepare(high)
    grey = prepared_low.ids.index("synth_0003")
    # At 100 both blocks are vessel, at 150 only the 200 block: the top-left block's vessel is lost.
    assert prepared_low.masks[grey].sum() > prepared_high.masks[grey].sum()
    others = [n for n in range(len(prepared_low.ids)) if n != grey]
    np.testing.assert_array_equal(prepared_low.masks[others], prepared_high.masks[others])
    assert prepared_low.fingerprint == a.fingerprint


def test_a_run_folder_prepared_at_one_threshold_is_prepared_again_at_another(tmp_path, grey_run_source):
    store = RunStore(tmp_path / "run")
    low, _ = rundata.prepare_run(_config(tmp_path, grey_run_source, 100), store)
    high, _ = rundata.prepare_run(_config(tmp_path, grey_run_source, 150), store)  # no job yet: started afresh
    cached = rundata.load(store.prepared_path)
    assert low.fingerprint != high.fingerprint == cached.fingerprint
    grey = cached.ids.index("synth_0003")
    np.testing.assert_array_equal(cached.masks[grey], high.masks[grey])
    assert low.masks[grey].sum() > cached.masks[grey].sum()


@pytest.mark.parametrize("command", ["finetune", "calibrate"])
def test_finetune_and_calibrate_take_the_threshold_and_refuse_one_outside_1_to_255(tmp_path, command):
    out = tmp_path / "out"
    result = _run(command, "--data", grey_folder(tmp_path / "data"), "--mask-threshold", 256, "--out", out)
    assert "--mask-threshold 256: expected an integer from 1 to 255" in _one_error_line(result)
    assert not out.exists()


def test_finetune_reads_grey_masks_only_with_a_threshold(tmp_path, grey_run_source):
    without = _run("finetune", "--data", grey_run_source, "--profile", "tiny", "--out", tmp_path / "a")
    assert "synth_0003.png" in _one_error_line(without) and "--mask-threshold" in without.output
    result = _run("finetune", "--data", grey_run_source, "--profile", "tiny", "--mask-threshold", 128,
                  "--out", tmp_path / "b")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "b" / "rows.parquet").is_file()
