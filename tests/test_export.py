"""Weights out and predictions in: export → load → predict reproduces the run's own test predictions
bit for bit on the CPU, choices are never silent picks, and bad input writes nothing."""

from __future__ import annotations

from dataclasses import replace
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file
from typer.testing import CliRunner

from benchmark.cli import app
from benchmark.config.run_config import load_config
from benchmark.data.images import read_image, read_mask
from benchmark.data.preprocess import PreprocessConfig, crop_box, preprocess_image, preprocess_mask
from benchmark.data.synthetic import write_synthetic
from benchmark.core.errors import BenchmarkError
from benchmark.evaluate.metrics import METRIC_KEYS, mean_diameter, segmentation_metrics
from benchmark.export import load_unet
from benchmark.data.readers.arcade import ARCADE_LICENCE
from benchmark.export.card import SYNTHETIC_LICENCE, dataset_info
from benchmark.export.predict import model_side_check, overlay, restore_mask, segment
from benchmark.export.weights import WEIGHTS_FORMAT
from benchmark.model.unet import UNet, UNetConfig
from benchmark.run.folder import rundata
from benchmark.run.execute import runner
from benchmark.run.folder.store import RunStore
from benchmark.config.options import ExecutorConfig, resolve_run_config
from benchmark.train.device import DeviceOptions
from benchmark.train.loops import predict
from conftest import write_tiny_config

cli = CliRunner()
CPU = DeviceOptions(device="cpu")


def _run(*args):
    return cli.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """supervised and mae, two ratios, two seeds: enough fine-tuning that some predictions have vessels."""
    folder = tmp_path_factory.mktemp("export-run")
    path = write_tiny_config(folder, methods=["supervised", "mae"], ratios=["60:20", "70:10"], seeds=[0, 1],
                             pretrain={"mae": {"epochs": 1, "steps": 4, "batch_size": 8}},
                             finetune={"epochs": 6, "steps": 24, "eval_every": 6, "lr_grid": [0.01], "batch_size": 4,
                                       "min_samples_per_epoch": 16})  # 96 samples, as 6 epochs of 16
    runner.run_benchmark(resolve_run_config(path)[0], folder / "run", ExecutorConfig(kind="inline"))
    return folder / "run"


@pytest.fixture(scope="module")
def best_job(run_dir):
    """The mae fine-tune job whose test predictions hold the most vessel pixels (so equality means something)."""
    store = RunStore(run_dir)
    jobs = [store.read_job(k) for k in store.job_keys()]
    jobs = [j for j in jobs if j.kind == "finetune" and j.method == "mae"]
    job = max(jobs, key=lambda j: pd.read_parquet(store.rows_path(j.key))["diameter_pred"].sum())
    assert pd.read_parquet(store.rows_path(job.key))["diameter_pred"].sum() > 0, "no job predicts any vessel"
    return job


@pytest.fixture(scope="module")
def raw_dir(run_dir, tmp_path_factory) -> Path:
    """The run's synthetic images as the 8-bit PNGs a user would have (PNG is lossless: the same pixels)."""
    data = load_config(RunStore(run_dir).config_path).data
    return write_synthetic(tmp_path_factory.mktemp("raw") / "synth", data.synthetic_count, data.synthetic_size,
                           data.synthetic_seed)


@pytest.fixture(scope="module")
def exported(run_dir, best_job, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("exports") / "mae"
    result = _run("export", run_dir, out, "--method", "mae", "--ratio", best_job.ratio, "--seed", best_job.seed)
    assert result.exit_code == 0, result.output
    return out


def _reference_predictions(store: RunStore, job) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(prepared test images, their masks, the job's predictions recomputed as the worker made them)."""
    data = rundata.load(store.prepared_path)
    index = data.index(job.finetune.test_ids)
    unet = UNet(job.unet)
    unet.load_state_dict(store.read_checkpoint(job.key))
    unet.to(memory_format=CPU.memory_format())
    pred = predict(unet, torch.from_numpy(data.images[index])[:, None], CPU).numpy()
    return data.images[index], data.masks[index], pred


def test_export_load_predict_reproduces_the_runs_own_test_predictions_exactly(run_dir, best_job, raw_dir, exported):
    store = RunStore(run_dir)
    test_ids = list(best_job.finetune.test_ids)
    images, truths, reference = _reference_predictions(store, best_job)
    # The recomputation is what the job stored and scored: its previews and its rows.
    previews = store.read_previews(best_job.key)
    for image_id, stored in zip(previews.ids.tolist(), previews.pred):
        assert np.array_equal(reference[test_ids.index(image_id)], stored)
    rows = pd.read_parquet(store.rows_path(best_job.key)).set_index("image_id")
    assert [segmentation_metrics(p, t)["dice"] for p, t in zip(reference, truths)] == rows.loc[test_ids, "dice"].tolist()
    assert reference.any() and not np.array_equal(reference, truths)

    unet, card = load_unet(exported)
    checkpoint = store.read_checkpoint(best_job.key)
    assert all(torch.equal(unet.state_dict()[name], tensor) for name, tensor in checkpoint.items())
    raw = [read_image(raw_dir / "imgs" / f"{i}.png") for i in test_ids]
    # The premise of predicting from raw files: they pre-process to the run's prepared pixels exactly.
    assert all(np.array_equal(preprocess_image(r, card.preprocess), p) for r, p in zip(raw, images))
    segmentations = segment(unet, card.preprocess, raw, CPU)
    assert np.array_equal(np.stack([s.model_mask for s in segmentations]), reference)
    assert card.test.images == len(test_ids)
    assert card.test.means == pytest.approx({m: rows[m].mean() for m in METRIC_KEYS}, abs=0)


def test_predict_writes_masks_at_the_input_size_that_map_back_onto_the_models_grid(
        run_dir, best_job, raw_dir, exported, tmp_path):
    test_ids = list(best_job.finetune.test_ids)
    _, _, reference = _reference_predictions(RunStore(run_dir), best_job)
    card = json.loads((exported / "model_card.json").read_text())
    cfg = PreprocessConfig(**card["preprocess"])
    out = tmp_path / "pred"
    result = _run("predict", *[raw_dir / "imgs" / f"{i}.png" for i in test_ids], "--weights", exported,
                  "--out", out, "--masks", raw_dir / "masks", "--device", "cpu", "--batch-size", 16)
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out / "predictions.csv").set_index("image")
    for image_id, model_mask in zip(test_ids, reference):
        written = read_mask(out / "masks" / f"{image_id}.png")
        assert written.shape == read_image(raw_dir / "imgs" / f"{image_id}.png").shape
        assert np.array_equal(preprocess_mask(written, replace(cfg, mask_resize="nearest")), model_mask)  # nearest undoes nearest
        top, left, side = crop_box(written.shape, cfg.crop)
        assert written.sum() == written[top:top + side, left:left + side].sum()
        assert table.loc[image_id, "vessel_fraction"] == written.mean()
        assert table.loc[image_id, "mean_diameter_px"] == pytest.approx(mean_diameter(written))
        truth = read_mask(raw_dir / "masks" / f"{image_id}.png")
        assert table.loc[image_id, "dice"] == pytest.approx(segmentation_metrics(written, truth)["dice"])
        overlay = np.asarray(Image.open(out / "overlays" / f"{image_id}.png"))
        assert overlay.shape == (*written.shape, 3)
        assert (overlay[written][:, 0] >= overlay[written][:, 1]).all()
    assert set(METRIC_KEYS) <= set(table.columns)


def test_predictions_scored_against_themselves_get_perfect_metrics(raw_dir, exported, tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    images = raw_dir / "imgs"
    assert _run("predict", images, "--weights", exported, "--out", first, "--device", "cpu").exit_code == 0
    result = _run("predict", images, "--weights", exported, "--out", second, "--masks", first / "masks")
    assert result.exit_code == 0, result.output
    table = pd.read_csv(second / "predictions.csv")
    assert len(table) == 50 and table["vessel_fraction"].gt(0).any()
    assert (table["dice"] == 1).all() and (table["iou"] == 1).all() and (table["nsd"] == 1).all()
    assert (table["hd"] == 0).all() and (table["hd95"] == 0).all() and (table["add"] == 0).all()


def test_grey_ground_truth_masks_are_scored_once_binarised_at_the_threshold(raw_dir, exported, tmp_path):
    first, grey = tmp_path / "first", tmp_path / "grey"
    images = [raw_dir / "imgs" / f"synth_{i:04d}.png" for i in range(6)]
    assert _run("predict", *images, "--weights", exported, "--out", first, "--device", "cpu").exit_code == 0
    grey.mkdir()
    for path in sorted((first / "masks").iterdir()):
        mask = np.asarray(Image.open(path)).copy()  # the prediction: 0 / 255
        assert not mask[0, :2].any()  # outside the centre crop: always background
        mask[0, 0], mask[0, 1] = 50, 100  # grey, below the threshold: background once binarised
        Image.fromarray(mask).save(grey / path.name)
    refused = _run("predict", *images, "--weights", exported, "--out", tmp_path / "no", "--masks", grey)
    assert refused.exit_code != 0 and "mask is not binary" in refused.output and "--mask-threshold" in refused.output
    assert not (tmp_path / "no").exists()
    result = _run("predict", *images, "--weights", exported, "--out", tmp_path / "yes", "--masks", grey,
                  "--mask-threshold", 128)
    assert result.exit_code == 0, result.output
    table = pd.read_csv(tmp_path / "yes" / "predictions.csv")
    assert len(table) == 6 and (table["dice"] == 1).all() and (table["hd"] == 0).all()


@pytest.mark.parametrize("options, fragment", [
    (["--mask-threshold", "128"], "--mask-threshold binarises the ground-truth masks; give --masks DIR too"),
    (["--mask-threshold", "0", "--masks", "."], "--mask-threshold 0: expected an integer from 1 to 255"),
    (["--mask-threshold", "256", "--masks", "."], "--mask-threshold 256: expected an integer from 1 to 255"),
])
def test_a_bad_predict_mask_threshold_is_one_line_naming_the_option(raw_dir, exported, tmp_path, options, fragment):
    result = _run("predict", raw_dir / "imgs" / "synth_0000.png", "--weights", exported, "--out", tmp_path / "p",
                  *options)
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert result.exit_code != 0 and len(errors) == 1 and fragment in result.output.replace("\n", " "), result.output
    assert not (tmp_path / "p").exists()


def test_restore_mask_undoes_resize_and_centre_crop():
    cfg = PreprocessConfig(crop=0.8, size=4)  # 10×12 input → an 8×8 crop at (1, 2) → 4×4
    small = np.zeros((4, 4), bool)
    small[0, 0] = small[3, 2] = True
    expected = np.zeros((10, 12), bool)
    expected[1:3, 2:4] = True  # each model pixel is a 2×2 block of the crop
    expected[7:9, 6:8] = True
    assert np.array_equal(restore_mask(small, (10, 12), cfg), expected)
    assert np.array_equal(preprocess_mask(expected, cfg), small)
    uncropped = PreprocessConfig(crop=None, size=None)
    assert np.array_equal(restore_mask(expected, (10, 12), uncropped), expected)


def test_exported_weights_and_card_match_the_run(run_dir, best_job, exported):
    _, card = load_unet(exported, "pretrained")
    assert (card.method, card.ratio, card.seed, card.protocol) == ("mae", best_job.ratio, best_job.seed, "fair")
    assert card.finetune_job == best_job.key and card.pretrain_job == best_job.finetune.pretrained
    assert card.data_fingerprint == best_job.data and card.unet == best_job.unet
    assert card.dataset.licence == SYNTHETIC_LICENCE
    assert card.pretrain_recipe.epochs == 1 and card.finetune_recipe.epochs == 6
    pretrained, _ = load_unet(exported, "pretrained")
    checkpoint = RunStore(run_dir).read_checkpoint(best_job.finetune.pretrained)
    assert all(torch.equal(pretrained.state_dict()[k], v) for k, v in checkpoint.items())
    markdown = (exported / "MODEL_CARD.md").read_text()
    assert "load_unet" in markdown and f"{card.test.means['dice']:.4f}" in markdown


def test_exported_files_are_readable_by_others(exported):
    modes = {p.name: p.stat().st_mode & 0o777 for p in exported.iterdir()}
    assert modes == {name: 0o644 for name in modes} and len(modes) == 4
    assert exported.stat().st_mode & 0o777 == 0o755


def test_card_warns_when_the_fine_tuning_sets_are_tiny(exported):
    _, card = load_unet(exported, "pretrained")
    train, val = card.finetune_images
    markdown = (exported / "MODEL_CARD.md").read_text()
    assert "1 images" not in markdown and "1 validation images" not in markdown
    if min(train, val) < 5:  # 50 synthetic images: at 60:20 or 70:10 the validation part has a handful
        assert "> **Warning:** this model was fine-tuned on " in markdown and "mostly luck" in markdown
    small = replace(card, finetune_images=(1, 1))
    assert small.small_set_warning().startswith("this model was fine-tuned on 1 image and selected on 1 validation "
                                                "image:")
    assert replace(card, finetune_images=(5, 5)).small_set_warning() is None


def test_overlay_with_masks_colours_true_positives_white_false_positives_red_false_negatives_blue():
    image = np.full((1, 4), 100, np.uint8)
    pred, truth = np.array([[True, True, False, False]]), np.array([[True, False, True, False]])
    drawn = overlay(image, pred, alpha=1.0, truth=truth)
    assert drawn.tolist() == [[[255, 255, 255], [237, 51, 41], [38, 140, 255], [100, 100, 100]]]
    assert overlay(image, pred, alpha=1.0).tolist() == [[[255, 0, 0], [255, 0, 0], [100, 100, 100], [100, 100, 100]]]


def test_a_supervised_export_holds_the_fine_tuned_unet_only(run_dir, tmp_path):
    out = tmp_path / "sup"
    assert _run("export", run_dir, out, "--method", "supervised", "--ratio", "70:10", "--seed", 1).exit_code == 0
    assert sorted(p.name for p in out.iterdir()) == ["MODEL_CARD.md", "finetuned.safetensors", "model_card.json"]
    _, card = load_unet(out)
    assert card.pretrained_file is None and card.pretrain_recipe is None and card.finetuned_file


def test_dataset_licence_and_citation_are_known_for_arcade(tmp_path):
    (tmp_path / "arcade" / "syntax").mkdir(parents=True)
    info = dataset_info(str(tmp_path / "arcade"), "auto")
    assert (info.name, info.licence) == ("ARCADE", ARCADE_LICENCE)
    assert "Popov" in info.citation and "Scientific Data 11:20" in info.citation
    assert dataset_info("synthetic", "auto").citation == ""


@pytest.mark.parametrize("options, fragments", [
    (["--method", "mae", "--ratio", "70:10"], ["several seeds", "0, 1", "--seed"]),
    (["--method", "mae", "--seed", "0"], ["several ratios", "60:20, 70:10", "--ratio"]),
    (["--method", "supervised", "--seed", "0"], ["supervised has no pre-training", "--ratio"]),
    (["--method", "moco", "--seed", "0"], ["--method moco", "mae, supervised"]),
    (["--method", "mae", "--ratio", "79:1", "--seed", "0"], ["--ratio 79:1", "60:20, 70:10"]),
    (["--method", "mae", "--ratio", "70:10", "--seed", "5"], ["no seed 5", "0, 1"]),
])
def test_an_ambiguous_or_missing_choice_is_an_error_listing_the_choices(run_dir, tmp_path, options, fragments):
    out = tmp_path / "out"
    result = _run("export", run_dir, out, *options)
    assert result.exit_code != 0 and "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in result.output, result.output
    assert not out.exists()


def test_export_never_writes_into_a_folder_that_holds_files(run_dir, tmp_path):
    out = tmp_path / "taken"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    result = _run("export", run_dir, out, "--method", "mae", "--ratio", "70:10", "--seed", 0)
    assert result.exit_code != 0 and "exists and is not an empty folder" in result.output
    assert [p.name for p in out.iterdir()] == ["notes.txt"]


def _bad_image(tmp_path, exported, raw_dir):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    return [raw_dir / "imgs" / "synth_0000.png", bad], exported, None, "broken.png"


def _not_an_export(tmp_path, exported, raw_dir):
    (tmp_path / "empty").mkdir()
    return [raw_dir / "imgs"], tmp_path / "empty", None, "model_card.json"


def _card_of_another_shape(tmp_path, exported, raw_dir):
    copy = shutil.copytree(exported, tmp_path / "copy")
    card = json.loads((copy / "model_card.json").read_text())
    card["unet"]["base"] = 8
    (copy / "model_card.json").write_text(json.dumps(card))
    return [raw_dir / "imgs"], copy, None, "finetuned.safetensors"


def _tensors_of_another_shape(tmp_path, exported, raw_dir):
    copy = shutil.copytree(exported, tmp_path / "copy")
    card = json.loads((copy / "model_card.json").read_text())
    save_file(UNet(UNetConfig(base=8)).state_dict(), str(copy / "finetuned.safetensors"),
              metadata={"format": WEIGHTS_FORMAT, "unet": json.dumps(card["unet"])})
    return [raw_dir / "imgs"], copy, None, "finetuned.safetensors"


def _pretrained_only(tmp_path, exported, raw_dir):
    copy = shutil.copytree(exported, tmp_path / "copy")
    card = json.loads((copy / "model_card.json").read_text())
    card["finetuned_file"] = None
    (copy / "model_card.json").write_text(json.dumps(card))
    return [raw_dir / "imgs"], copy, None, "no finetuned UNet"


def _mask_of_another_size(tmp_path, exported, raw_dir):
    masks = shutil.copytree(raw_dir / "masks", tmp_path / "masks")
    Image.fromarray(np.zeros((32, 48), np.uint8)).save(masks / "synth_0003.png")
    return [raw_dir / "imgs"], exported, masks, "synth_0003.png"


def _missing_mask(tmp_path, exported, raw_dir):
    masks = shutil.copytree(raw_dir / "masks", tmp_path / "masks")
    (masks / "synth_0007.png").unlink()
    return [raw_dir / "imgs"], exported, masks, "synth_0007.png"


@pytest.mark.parametrize("case", [_bad_image, _not_an_export, _card_of_another_shape, _tensors_of_another_shape,
                                  _pretrained_only, _mask_of_another_size, _missing_mask])
def test_bad_predict_input_is_one_line_naming_the_file_and_writes_nothing(tmp_path, exported, raw_dir, case):
    images, weights, masks, fragment = case(tmp_path, exported, raw_dir)
    out = tmp_path / "pred"
    result = _run("predict", *images, "--weights", weights, "--out", out, *(["--masks", masks] if masks else []))
    assert result.exit_code != 0 and "Traceback" not in result.output
    error = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(error) == 1 and fragment in error[0], result.output
    assert not out.exists() and not list(tmp_path.glob(".pred.partial-*"))


def test_images_of_several_sizes_without_a_fixed_size_are_segmented_each_at_its_own_size():
    torch.manual_seed(0)
    unet = UNet(UNetConfig(base=4)).eval()
    cfg = PreprocessConfig(crop=None, inpaint_corners=False, unsharp_amount=0, size=None)
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 255, shape, dtype=np.uint8) for shape in ((32, 48), (64, 32), (32, 48))]
    together = segment(unet, cfg, images, CPU)
    alone = [segment(unet, cfg, [image], CPU)[0] for image in images]
    assert [s.mask.shape for s in together] == [(32, 48), (64, 32), (32, 48)]
    assert all(np.array_equal(t.mask, a.mask) for t, a in zip(together, alone))


def test_a_size_the_unet_cannot_take_names_the_image():
    cfg = PreprocessConfig(crop=None, size=None)
    model_side_check((32, 48), cfg, UNet(UNetConfig(base=4)), Path("fine.png"))
    with pytest.raises(BenchmarkError, match=r"odd\.png: pre-processed to 40×48 px.*multiples of 16"):
        model_side_check((40, 48), cfg, UNet(UNetConfig(base=4)), Path("odd.png"))
