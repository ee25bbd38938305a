"""`build_report` on run folders written here with known contents (never from training): the files it
writes are real, non-blank images and complete tables, the page holds all of them, a partial run
says what is missing, and a folder that is not a run is a clear user error."""

from __future__ import annotations

import base64
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tomli_w
from PIL import Image

from benchmark.data.splits import Ratio, make_splits
from benchmark.core.errors import BenchmarkError
from benchmark.core.files import atomic_write_bytes, atomic_write_parquet
from benchmark.data.preprocess import PreprocessConfig
from benchmark.model.unet import UNetConfig
from benchmark.run.folder.job_status import FinetuneOutcome, JobStatus, Outcome, PretrainOutcome, Provenance
from benchmark.run.plan.jobs import Job
from benchmark.run.folder.looks import looks_of, write_looks
from benchmark.run.folder.row_schema import RowProvenance, RowSource, result_frame
from benchmark.run.plan.job_identity import FINETUNE
from benchmark.data.external import IN_DOMAIN
from benchmark.run.folder.store import RunStore
from methods import registry
from reports import build_report, summary_lines
from reports.build import ReportOptions, input_digest
from reports.render.galleries import BACKGROUND_LEVEL, FN_COLOUR, FP_COLOUR, TP_COLOUR, error_overlay
from reports.render.style import DPI

SIZE = 32
TEST_IDS = [f"t{i:02d}" for i in range(8)]
PROVENANCE = {"git_commit": "abc1234", "versions": "angiobench 0.1.0; torch 2.14.1", "device": "cpu (test)"}


# --- writing a run folder the way the store and the worker do -------------------------------------

def write_config(root: Path, methods: list[str], ratios: list[str], seeds: list[int]) -> None:
    """config.toml of a tiny-profile run of these methods, ratios and seeds (see claim_run)."""
    claim_run(root, {"profile": "tiny", "methods": methods, "ratios": ratios, "seeds": seeds})


def claim_run(root: Path, config: dict) -> None:
    """config.toml, and methods.json with every method's name, colour and role, as the runner writes them."""
    RunStore(root).claim(tomli_w.dumps(config), force=False)
    write_looks(root, looks_of(registry()))


def write_dataset(root: Path, n: int = 200, size: int = SIZE, ratios: list[str] = ("50:30", "79:1")) -> None:
    """prepared.npz (only shapes matter to the report) and splits.json with a fixed test set."""
    ids = [f"a{i:03d}" for i in range(n - len(TEST_IDS))] + TEST_IDS
    store = RunStore(root)
    buffer = pd.io.common.BytesIO()
    np.savez(buffer, ids=np.array(ids), groups=np.array(["train"] * n), images=np.zeros((n, size, size), np.float32),
             masks=np.zeros((n, size, size), bool), extra=np.zeros((0, size, size), np.float32),
             fingerprint=np.array("test"))
    atomic_write_bytes(store.prepared_path, buffer.getvalue())
    make_splits(ids, [Ratio.parse(r) for r in ratios], test_ids=TEST_IDS, val_fraction=0.25).save(store.splits_path)


def write_job(root: Path, key: str, kind: str, method: str, ratio: str, seed: int, state: str = "done",
              depends_on: tuple[str, ...] = (), outcome: Outcome | None = None, error: str | None = None) -> Path:
    parsed = Ratio.parse(ratio)
    store = RunStore(root)
    store.write_job(Job(key, kind, method, seed, parsed.pt, parsed.ft, parsed.label, tuple(depends_on),
                        job_seed=1000 + seed, data="test", unet=UNetConfig(base=4),
                        preprocess=PreprocessConfig(size=SIZE)))
    if state == "done":
        made = Provenance(PROVENANCE["git_commit"], PROVENANCE["versions"])
        status = JobStatus(state, device=PROVENANCE["device"], wall_time_s=1.5, provenance=made, outcome=outcome)
    else:
        status = JobStatus(state, error=error)
    store.write_status(key, status)
    return store.job_dir(key)


def vessel_mask(index: int, size: int = SIZE) -> np.ndarray:
    """A vertical bar 3 px wide whose column depends on the image."""
    mask = np.zeros((size, size), bool)
    mask[2:-2, 8 + index:11 + index] = True
    return mask


def save_npz(path: Path, **arrays: np.ndarray) -> None:
    buffer = pd.io.common.BytesIO()
    np.savez_compressed(buffer, **arrays)
    atomic_write_bytes(path, buffer.getvalue())


def add_finetune(root: Path, method: str, ratio: str, seed: int, metrics: pd.DataFrame | None = None,
                 state: str = "done", depends_on: tuple[str, ...] = (), shift: int = 1, error: str | None = None) -> str:
    """A fine-tune job; done jobs get rows (`metrics`: one row per test image) and previews whose
    prediction is the mask shifted by `shift` columns."""
    key = f"finetune-{method}-{Ratio.parse(ratio).label.replace(':', '-')}-{seed}"
    outcome = FinetuneOutcome(params_finetune=31_040_000, best_epoch=3, best_val_dice=0.5, lr=1e-3, steps=60,
                              batch_size=8)
    folder = write_job(root, key, "finetune", method, ratio, seed, state, depends_on, outcome, error)
    if state != "done":
        return key
    parsed = Ratio.parse(ratio)
    source = RowSource(key, key, method, "fair", FINETUNE, parsed.pt, parsed.ft, parsed.label, seed, 31_040_000,
                       ",".join(depends_on), "", 150, 8, 2)
    made = RowProvenance(PROVENANCE["git_commit"], PROVENANCE["versions"], PROVENANCE["device"], "fp32", False, 1.5)
    atomic_write_parquet(folder / "rows.parquet", result_frame(metrics.to_dict("records"), IN_DOMAIN, source, made))
    shown = sorted(TEST_IDS)[:4]
    masks = np.stack([vessel_mask(i) for i in range(4)])
    images = np.where(masks, -1.5, 0.5).astype(np.float32) + np.linspace(0, 0.3, SIZE, dtype=np.float32)
    save_npz(folder / "previews.npz", ids=np.array(shown), image=images, mask=masks, pred=np.roll(masks, shift, axis=2))
    return key


def add_pretrain(root: Path, method: str, ratio: str, seed: int, state: str = "done", error: str | None = None,
                 learned: bool | None = None) -> str:
    """A pre-training job; `learned` True/False gives it a final loss of 0.1 against a chance level of
    1.0 or 0.105 (None: it records no chance level)."""
    key = f"pretrain-{method}-{Ratio.parse(ratio).label.replace(':', '-')}-{seed}"
    chance = None if learned is None else (1.0 if learned else 0.105)
    outcome = PretrainOutcome(params_pretrain=121_490_000, final_loss=0.1, steps=20, images_seen=320, lr=1e-3,
                              loss_start=1.05, chance_loss=chance, pretext_learned=learned)
    folder = write_job(root, key, "pretrain", method, ratio, seed, state, outcome=outcome, error=error)
    if state == "done":
        steps = np.arange(1, 21)
        atomic_write_parquet(folder / "loss_curve.parquet", pd.DataFrame({
            "step": steps, "epoch": (steps - 1) // 5, "loss": 1.0 / steps + 0.05, "job_key": key, "method": method,
            "seed": seed}))
        target = np.stack([vessel_mask(i) for i in range(4)])[:, None].astype(np.float32)
        masked = target.copy()
        masked[..., :16, :16] = 0.0
        save_npz(folder / "previews.npz", target=target, input=masked, output=0.9 * target)
    return key


def image_metrics(dice: list[float], diameter_gt: list[float] | None = None, shift: float = 0.0) -> pd.DataFrame:
    n = len(dice)
    gt = np.array(diameter_gt if diameter_gt is not None else np.linspace(2.0, 6.0, n))
    return pd.DataFrame({"image_id": TEST_IDS[:n], "dice": dice, "cldice": np.array(dice) - 0.05,
                         "iou": np.array(dice) - 0.1, "hd": 10 * (1 - np.array(dice)),
                         "hd95": 25 * (1 - np.array(dice)), "nsd": np.array(dice) + 0.02, "add": np.abs(shift) + 0 * gt,
                         "diameter_pred": gt + shift + 0.1 * np.sin(np.arange(n)), "diameter_gt": gt})


def complete_run(root: Path) -> Path:
    """supervised, mae and cmunet at 50:30 and 79:1, one seed, every job done; CM-UNet's pretext
    learned, MAE's did not."""
    write_config(root, ["supervised", "mae", "cmunet"], ["50:30", "79:1"], [0])
    write_dataset(root)
    base = np.linspace(0.5, 0.64, 8)
    quality = {"supervised": {"50:30": 0.2, "79:1": -0.1}, "mae": {"50:30": 0.21, "79:1": 0.0},
               "cmunet": {"50:30": 0.23, "79:1": 0.1}}
    for method, by_ratio in quality.items():
        for ratio, offset in by_ratio.items():
            # MAE's pretext stays within 10 % of chance: the report must say it was not tested
            parents = (add_pretrain(root, method, ratio, 0, learned=method == "cmunet"),) if method != "supervised" else ()
            add_finetune(root, method, ratio, 0, image_metrics((base + offset).tolist(), shift=offset), depends_on=parents)
    return root


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, object]:
    root = complete_run(tmp_path_factory.mktemp("complete") / "run")
    return root, build_report(root, formats=("png",))


# --- pretext health -------------------------------------------------------------------------------


def test_a_contender_whose_pretext_did_not_learn_is_called_untested(built):
    _, result = built
    summary = "\n".join(result.summary)
    assert ("Not a test of MAE at this budget: its pretext loss did not fall 10 % below the loss of a network "
            "that learned nothing in 2 of its 2 pre-training jobs") in summary
    assert "CM-UNet at this budget" not in summary
    mae_verdicts = [line for line in result.summary if line.startswith("MAE vs baseline")]
    assert mae_verdicts and all(line.endswith("not a test of the method at this budget: its pretext did not learn")
                                for line in mae_verdicts)


def test_the_health_table_gives_loss_against_chance_per_method_and_ratio(built):
    root, _ = built
    table = pd.read_csv(root / "report" / "tables" / "health.csv")
    mae = table[table["method"] == "mae"].set_index("ratio")
    assert mae.loc["79:1", ["loss_start_mean", "loss_end_mean", "chance_loss_mean"]].tolist() == [1.05, 0.1, 0.105]
    assert mae["pretext_learned"].tolist() == [0, 0] and mae["pretext_said"].tolist() == [1, 1]
    assert table.loc[table["method"] == "cmunet", "pretext_learned"].tolist() == [1, 1]
    assert "| MAE | 79:1 | 1.050 | 0.100 | 0.105 | 0/1 | — |" in (root / "report" / "tables" / "health.md").read_text()


# --- the files ------------------------------------------------------------------------------------

FIGURES = ("curves", "diameters", "gallery_predictions", "gallery_pretext", "loss_curves")


def test_every_figure_is_written_in_the_formats_asked_for(built):
    root, result = built
    assert sorted(p.name for p in result.figures) == sorted(f"{n}.png" for n in FIGURES)
    assert all(p.parent == root / "report" / "figures" for p in result.figures)


def test_curve_figure_has_the_size_it_was_drawn_at(built):
    _, result = built
    with Image.open(next(p for p in result.figures if p.name == "curves.png")) as image:
        assert image.format == "PNG"
        assert image.size == (round(2 * 5.0 * DPI), round(4.4 * DPI))  # two panels of 5.0 × 4.4 in


@pytest.mark.parametrize("name", FIGURES)
def test_figure_is_not_blank(built, name):
    _, result = built
    with Image.open(next(p for p in result.figures if p.name == f"{name}.png")) as image:
        pixels = np.asarray(image.convert("RGB"), dtype=np.int64)
    assert pixels.std() > 10
    colours = np.unique((pixels[..., 0] << 16) | (pixels[..., 1] << 8) | pixels[..., 2])
    assert len(colours) > 50  # more than text on a plain background


def test_tables_are_written_in_three_formats_with_bold_best(built):
    root, result = built
    names = sorted(p.name for p in result.tables)
    assert names == sorted(f"{t}.{ext}" for t in ("table1", "data_efficiency", "significance", "power", "budget",
                                                  "health")
                           for ext in ("md", "tex", "csv"))  # no controls in this run: no controls table
    folder = root / "report" / "tables"
    markdown = (folder / "table1.md").read_text()
    # CM-UNet at 79:1: Dice .6, .62, … .74 → mean .67 (the best, so bold), SD .02·√6 = .049; one seed: no marker
    assert re.search(r"\| CM-UNet \| 121\.49 \| 31\.04 \| \*\*0\.670 ± 0\.049\*\* \|", markdown)
    assert r"\textbf{0.670 $\pm$ 0.049}" in (folder / "table1.tex").read_text()
    assert "1 seed: run-to-run spread unknown" in markdown
    csv = pd.read_csv(folder / "table1.csv").set_index("method")
    assert csv.loc["cmunet", "dice_mean"] == pytest.approx(0.67)
    assert csv.loc["supervised", "params_finetune"] == 31_040_000


def test_headline_summary_has_relative_change(built):
    _, result = built
    lines = summary_lines(result)
    # supervised: mean .57 + .2 = .77 at 50:30 → .47 at 79:1: (.47 − .77)/.77 = −39.0 %
    assert any(line.startswith("UNet (no PT): Dice 50:30 0.770 → 79:1 0.470 (-39.0 %)") for line in lines)
    assert lines[0] == f"report: {result.index_html}"


def test_error_overlay_colours_true_positives_white_false_positives_red_false_negatives_blue():
    image = np.linspace(-1, 1, 16, dtype=np.float32).reshape(4, 4)
    truth = np.zeros((4, 4), bool)
    pred = np.zeros((4, 4), bool)
    truth[0, 0] = pred[0, 0] = True  # TP
    pred[1, 1] = True  # FP
    truth[2, 2] = True  # FN
    rgb = error_overlay(image, truth, pred)
    assert tuple(rgb[0, 0]) == TP_COLOUR and tuple(rgb[1, 1]) == FP_COLOUR and tuple(rgb[2, 2]) == FN_COLOUR
    background = rgb[3, 3]
    assert background[0] == background[1] == background[2] <= BACKGROUND_LEVEL  # the dimmed grey input


# --- the page -------------------------------------------------------------------------------------

def test_page_embeds_every_figure_and_table(built):
    root, result = built
    page = result.index_html.read_text()
    assert result.index_html == root / "report" / "index.html"
    for name in FIGURES:
        png = (root / "report" / "figures" / f"{name}.png").read_bytes()
        assert f'src="data:image/png;base64,{base64.b64encode(png).decode()}"' in page
    for table in ("table1", "data_efficiency", "significance", "power", "budget"):
        assert f'id="table-{table}"' in page
    assert "<img" in page and 'src="http' not in page and "<link" not in page  # self-contained


def test_page_has_config_dataset_status_and_provenance(built):
    root, result = built
    page = result.index_html.read_text()
    assert "methods = [" in page and '"supervised"' in page.replace("&quot;", '"')
    assert "<td>image size (px)</td><td>32 × 32</td>" in page
    assert "<td>test images</td><td>8</td>" in page
    assert "abc1234 (10 jobs)" in page and "cpu (test)" in page
    assert "Nothing is missing" in page and result.missing == []


# --- partial runs and errors ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def partial(tmp_path_factory) -> tuple[Path, object]:
    """Config asks for 50:30, 70:10 and 79:1; nothing ran at 70:10; CM-UNet's 79:1 pre-training failed
    so its fine-tune never ran; MAE's 50:30 fine-tune was skipped."""
    root = tmp_path_factory.mktemp("partial") / "run"
    write_config(root, ["supervised", "mae", "cmunet"], ["50:30", "70:10", "79:1"], [0])
    dice = np.linspace(0.5, 0.64, 8).tolist()
    add_finetune(root, "supervised", "50:30", 0, image_metrics(dice))
    add_finetune(root, "supervised", "79:1", 0, image_metrics(dice))
    add_finetune(root, "cmunet", "50:30", 0, image_metrics(dice), depends_on=(add_pretrain(root, "cmunet", "50:30", 0),))
    failed = add_pretrain(root, "cmunet", "79:1", 0, state="failed", error="RuntimeError: CUDA out of memory")
    add_finetune(root, "cmunet", "79:1", 0, state="pending", depends_on=(failed,))
    add_finetune(root, "mae", "50:30", 0, state="skipped", error="dependency failed")
    add_finetune(root, "mae", "79:1", 0, image_metrics(dice))
    return root, build_report(root, formats=("png",))


def test_partial_run_lists_missing_ratio_and_failed_jobs(partial):
    _, result = partial
    assert "no results at ratio 70:10 from any method" in result.missing
    assert ("missing rows: cmunet at 79:1, seed 0: fine-tune job pending; its pre-training job failed: "
            "RuntimeError: CUDA out of memory") in result.missing
    assert "missing rows: mae at 50:30, seed 0: fine-tune job skipped: dependency failed" in result.missing
    assert "missing rows: supervised at 70:10, seed 0: no job in the run folder" in result.missing
    assert any(m.startswith("pretrain job pretrain-cmunet-79-1-0 (cmunet, 79:1, seed 0) failed: RuntimeError")
               for m in result.missing)
    assert any("data/prepared.npz: not found" in m for m in result.missing)


def test_partial_page_shows_missing_and_failed_jobs(partial):
    _, result = partial
    page = result.index_html.read_text()
    assert "This report is partial" in page
    assert "supervised at 70:10, seed 0: no job in the run folder" in page
    assert 'id="failed-jobs"' in page and "RuntimeError: CUDA out of memory" in page
    assert "<td>failed</td><td>1</td>" in page and "<td>skipped</td><td>1</td>" in page


def test_partial_run_still_draws_what_it_has(partial):
    _, result = partial
    assert {p.name for p in result.figures} >= {"curves.png", "diameters.png", "gallery_predictions.png"}
    assert all(p.suffix == ".png" for p in result.figures)


def test_run_without_finished_finetuning_draws_pretraining_as_png_and_pdf(tmp_path):
    write_config(tmp_path / "run", ["mae"], ["79:1"], [0])
    parent = add_pretrain(tmp_path / "run", "mae", "79:1", 0)
    add_finetune(tmp_path / "run", "mae", "79:1", 0, state="running", depends_on=(parent,))
    result = build_report(tmp_path / "run", out_dir=tmp_path / "out")  # default formats: png and pdf
    assert sorted(p.name for p in result.figures) == [
        "gallery_pretext.pdf", "gallery_pretext.png", "loss_curves.pdf", "loss_curves.png"]
    assert all(p.read_bytes()[:5] == b"%PDF-" for p in result.figures if p.suffix == ".pdf")
    assert sorted(p.name for p in result.tables) == [  # jobs alone give them
        "budget.csv", "budget.md", "budget.tex", "health.csv", "health.md", "health.tex"]
    assert any("no fine-tune job has finished" in m for m in result.missing)
    assert "mae at 79:1, seed 0: fine-tune job running" in result.index_html.read_text()


def test_rebuilding_in_another_format_removes_the_old_files_only(tmp_path):
    root = tmp_path / "run"
    write_config(root, ["mae"], ["79:1"], [0])
    add_pretrain(root, "mae", "79:1", 0)
    first = build_report(root, formats=("pdf",))
    (root / "report" / "figures" / "mine.pdf").write_bytes(b"%PDF-1.4 not ours")
    second = build_report(root, formats=("png",))
    assert all(not p.exists() for p in first.figures)
    assert sorted(p.name for p in (root / "report" / "figures").iterdir()) == [
        "gallery_pretext.png", "loss_curves.png", "mine.pdf"]
    assert all(p.exists() for p in second.figures)


def test_missing_folder_is_a_user_error(tmp_path):
    with pytest.raises(BenchmarkError, match="no such folder"):
        build_report(tmp_path / "nowhere")


def test_folder_that_is_not_a_run_is_a_user_error(tmp_path):
    (tmp_path / "notes.txt").write_text("not a run")
    with pytest.raises(BenchmarkError, match="not an angiobench run folder"):
        build_report(tmp_path)


def test_unknown_ratio_method_or_format_is_a_user_error_naming_the_option(built):
    root, _ = built
    with pytest.raises(BenchmarkError, match=r"--ratio 70:10: no results .* \(have: 79:1, 50:30\)"):
        build_report(root, out_dir=root / "other", ratio="70:10")
    with pytest.raises(BenchmarkError, match="--method moco"):
        build_report(root, out_dir=root / "other", method="moco")
    with pytest.raises(BenchmarkError, match="--format 'gif'"):
        build_report(root, out_dir=root / "other", formats=("png", "gif"))


# --- several seeds and the controls ---------------------------------------------------------------

def test_page_opens_with_the_controls_verdicts_and_shows_them_apart(tmp_path):
    """Three seeds; the positive control is 0.2 above the baseline on every image, with seed spread, so
    it is detected; the negative control equals the baseline plus a seed-only shift."""
    root = tmp_path / "run"
    methods = ["supervised", "mae", "control-oracle", "control-null"]
    write_config(root, methods, ["50:30", "79:1"], [0, 1, 2])
    base = np.linspace(0.4, 0.54, 8)
    offsets = {"supervised": [0.0, 0.02, -0.02], "mae": [0.01, 0.05, -0.03], "control-oracle": [0.2, 0.23, 0.18],
               "control-null": [0.01, -0.02, 0.0]}
    for method, by_seed in offsets.items():
        for ratio in ("50:30", "79:1"):
            for seed, offset in enumerate(by_seed):
                add_finetune(root, method, ratio, seed, image_metrics((base + offset).tolist()))
    result = build_report(root, formats=("png",))
    assert result.summary[0].startswith("Smoke test, not a result")  # the answer first (tiny profile) ...
    assert result.summary[1].startswith("Does not resolve 0.05 Dice: at 79:1 it detects only differences of")
    assert result.summary[2].startswith("At 79:1, MAE is ahead: +0.010 Dice over UNet (no PT).")
    assert result.summary[4].startswith("Positive control detected: Positive control (supervised PT with labels)")
    assert result.summary[5].startswith("Negative control called different from the baseline")
    page = result.index_html.read_text()
    first_item = re.search(r'<section id="summary"><h2>Details</h2><ul><li>(.*?)</li>', page).group(1)
    assert first_item.startswith("Positive control detected")  # ... then the bookkeeping, controls first
    assert 'id="table-controls"' in page
    table_one = (root / "report" / "tables" / "table1.md").read_text()
    assert "Positive control" not in table_one.split("\n\n")[1]  # controls never sit among the contenders
    power = pd.read_csv(root / "report" / "tables" / "power.csv").set_index("ratio")
    assert power.loc["79:1", "n_seeds"] == 3 and power.loc["79:1", "ranking"] in ("MAE = UNet (no PT)", "UNet (no PT) = MAE")


# --- reusing a built report -----------------------------------------------------------------------

def _age_report(out: Path) -> None:
    """Every file of the report back to 1970, so any file a build writes shows by its modification time."""
    for path in out.rglob("*"):
        if path.is_file():
            os.utime(path, ns=(0, 0))


def _rewritten(out: Path) -> set[str]:
    return {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file() and p.stat().st_mtime_ns > 0}


def test_unchanged_run_reuses_the_report_and_draws_nothing(tmp_path, monkeypatch):
    root = complete_run(tmp_path / "run")
    first = build_report(root, formats=("png",))
    _age_report(root / "report")
    monkeypatch.setattr("reports.render.draw.draw_report", lambda *args: pytest.fail("drew an unchanged report"))
    again = build_report(root, formats=("png",))
    assert again == first
    assert _rewritten(root / "report") == set()


def test_changed_row_missing_figure_or_new_option_rebuilds(tmp_path):
    root = complete_run(tmp_path / "run")
    build_report(root, formats=("png",))
    rows_path = RunStore(root).job_dir("finetune-cmunet-79-1-0") / "rows.parquet"
    rows = pd.read_parquet(rows_path)
    atomic_write_parquet(rows_path, rows.assign(dice=rows["dice"] - 0.2))  # CM-UNet 79:1: .67 → .47
    _age_report(root / "report")
    changed = build_report(root, formats=("png",))
    assert {f"figures/{n}.png" for n in ("curves", "diameters", "gallery_predictions")} <= _rewritten(root / "report")
    assert "CM-UNet: Dice 50:30 0.800 → 79:1 0.470 (-41.3 %)" in changed.summary  # was 0.670

    (root / "report" / "figures" / "curves.png").unlink()
    _age_report(root / "report")
    assert (root / "report" / "figures" / "curves.png") in build_report(root, formats=("png",)).figures
    assert "figures/curves.png" in _rewritten(root / "report")

    _age_report(root / "report")
    build_report(root, formats=("png",), method="mae")
    assert "figures/diameters.png" in _rewritten(root / "report")


REPORT_INPUTS = ["config.toml", "splits.json", "data/prepared.npz", "jobs/pretrain-mae-79-1-0/job.json",
                 "jobs/pretrain-mae-79-1-0/status.json", "jobs/pretrain-mae-79-1-0/loss_curve.parquet",
                 "jobs/pretrain-mae-79-1-0/previews.npz", "jobs/finetune-mae-79-1-0/rows.parquet"]


@pytest.fixture
def small_run(tmp_path) -> Path:
    """One method, one ratio, every kind of file a report reads (no report built: digests only)."""
    root = tmp_path / "run"
    write_config(root, ["mae"], ["79:1"], [0])
    write_dataset(root)
    parent = add_pretrain(root, "mae", "79:1", 0)
    add_finetune(root, "mae", "79:1", 0, image_metrics([0.5, 0.6]), depends_on=(parent,))
    return root


def _options(root: Path, **changes: object) -> ReportOptions:
    return ReportOptions(**{"out_dir": root / "report", "ratio": None, "method": None, "formats": ("png",), **changes})


@pytest.mark.parametrize("name", REPORT_INPUTS)
def test_digest_changes_with_every_file_the_report_reads(small_run, name):
    before = input_digest(small_run, _options(small_run))
    path = small_run / name
    if path.suffix == ".npz":  # a changed array: another member CRC in the zip's directory
        with np.load(path) as archive:
            arrays = {k: archive[k] for k in archive.files}
        first = next(iter(arrays))
        arrays[first] = arrays[first][::-1].copy() if arrays[first].ndim else np.array("changed")
        save_npz(path, **arrays)
    else:
        path.write_bytes(path.read_bytes() + b"\n")
    assert input_digest(small_run, _options(small_run)) != before
    path.unlink()
    assert input_digest(small_run, _options(small_run)) != before


@pytest.mark.parametrize("change", [{"ratio": "79:1"}, {"method": "mae"}, {"formats": ("png", "pdf")},
                                    {"out_dir": Path("elsewhere")}])
def test_digest_changes_with_every_report_option(small_run, change):
    assert input_digest(small_run, _options(small_run, **change)) != input_digest(small_run, _options(small_run))


def test_digest_ignores_what_the_report_never_reads(small_run):
    before = input_digest(small_run, _options(small_run))
    job = RunStore(small_run).job_dir("pretrain-mae-79-1-0")
    (job / "log.txt").write_text("epoch 1\n")
    (job / "checkpoint.pt").write_bytes(b"weights")
    (small_run / "report").mkdir()
    (small_run / "report" / "notes.txt").write_text("mine")
    assert input_digest(small_run, _options(small_run)) == before


# --- nothing clipped ------------------------------------------------------------------------------

def _drawn(figure):
    """The figure laid out and drawn as save_figure renders it, and its renderer."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from reports.render.style import styled_context

    with styled_context():
        figure.set_dpi(DPI)
        canvas = FigureCanvasAgg(figure)
        canvas.draw()
    return canvas.get_renderer()


@pytest.fixture(scope="module")
def planned(built) -> list:
    from reports.render.draw import choose, planned_figures
    from reports.read.contents import read_run

    root, _ = built
    contents = read_run(root)
    return planned_figures(contents, choose(contents.rows, root, None, None))


def test_nothing_drawn_in_any_figure_leaves_the_canvas(planned):
    assert [name for name, *_ in planned] == list(FIGURES)
    for name, _, _, figure in planned:
        drawn = figure.get_tightbbox(_drawn(figure))  # inches: everything drawn, texts and legends included
        width, height = figure.get_size_inches()
        tolerance = 0.5 / DPI  # half a pixel
        assert -tolerance <= drawn.x0 and drawn.x1 <= width + tolerance, (name, drawn, width)
        assert -tolerance <= drawn.y0 and drawn.y1 <= height + tolerance, (name, drawn, height)


def test_prediction_gallery_legend_sits_below_every_panel_with_room_to_spare(planned):
    figure = next(f for name, _, _, f in planned if name == "gallery_predictions")
    renderer = _drawn(figure)
    (legend,) = [legend for panel in [figure, *figure.subfigs] for legend in panel.legends]
    extent = legend.get_window_extent(renderer)
    lowest_panel = min(ax.get_window_extent(renderer).y0 for ax in figure.get_axes())
    assert extent.y1 < lowest_panel
    assert extent.y0 > 0.05 * DPI  # at least 0.05 in from the bottom edge: not on it, not past it

