"""The report's first section (reports.words.answer) and what the page says once: run folders written by
hand with known Dice values, so every number in the words can be checked by hand."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from reports import build_report
from reports.words.answer import ratio_answer, resolution_line
from reports.stats.hierarchical import SignificanceSettings
from reports.stats.manytoone import seeds_for
from benchmark.run.folder.looks import looks_of, write_looks
from methods import registry
from tests.test_reports import (add_finetune, add_pretrain, claim_run, complete_run, image_metrics, write_config,
                                write_dataset)

BASE = np.linspace(0.4, 0.54, 8)


@pytest.fixture(scope="module")
def one_seed(tmp_path_factory):
    root = complete_run(tmp_path_factory.mktemp("answer") / "run")
    return root, build_report(root, formats=("png",))


def test_single_seed_run_opens_with_a_smoke_test_warning_naming_each_reason(one_seed):
    _, result = one_seed
    warning = result.summary[0]
    assert warning.startswith("Smoke test, not a result")
    assert "tiny profile" in warning and "1 seed, where a verdict needs at least 3" in warning
    # splits of 200 images: at 79:1 the fine-tuning set has 1 training and 1 validation image
    assert "at 79:1 each model was fine-tuned on 1 image and its learning rate chosen on 1 validation image" in warning
    assert "at 50:30" not in warning


def test_answer_says_who_leads_by_how_much_and_that_one_seed_cannot_tell(one_seed):
    _, result = one_seed
    # complete_run: CM-UNet 0.1 above, MAE 0.0, baseline 0.1 below the base values at 79:1
    assert result.summary[1] == (
        "At 79:1, CM-UNet is ahead: +0.200 Dice over UNet (no PT), 0.100 above MAE. With 1 seed the run cannot "
        "tell: how much two trainings of one method differ is unknown, so no gap can be called real. Run at least "
        "3 seeds to learn how many would detect a 0.05 Dice difference.")
    assert result.summary[2].startswith("At 50:30, CM-UNet is ahead: +0.030 Dice over UNet (no PT), 0.020 above MAE.")


def test_single_seed_says_its_no_ranking_line_once_and_labels_image_only_intervals(one_seed):
    _, result = one_seed
    said = [line for line in result.summary if "run-to-run spread unknown" in line]
    assert said == ["no ranking at 79:1: 1 seed: run-to-run spread unknown, no difference can be called significant"]
    verdicts = [line for line in result.summary if " vs baseline at 79:1" in line]
    assert len(verdicts) == 2
    assert all("over the test images of 1 trained model only" in line for line in verdicts)


def test_page_answers_first_and_says_shared_notes_once(one_seed):
    root, result = one_seed
    page = result.index_html.read_text()
    sections = re.findall(r'<section id="([a-z]+)"><h2>([^<]*)</h2>', page)
    assert sections[0] == ("answer", "What this run says") and sections[1] == ("summary", "Details")
    answer = re.search(r'<section id="answer"><h2>[^<]*</h2>(.*?)</section>', page).group(1)
    assert answer.startswith('<p class="warn">Smoke test, not a result')
    assert page.count("over the contenders with at least") == 1  # the ↑/↓ note, once
    assert page.count("95 % confidence intervals [in square brackets]") == 1
    reading = re.search(r'<section id="reading"><h2>How to read the numbers</h2>(.*?)</section>', page).group(1)
    assert all(f"<p>{word}." in reading for word in ("Seeds", "Controls", "Power"))
    # each table's own files keep the notes it shares with others
    for name in ("table1", "data_efficiency"):
        assert "family-wise p < 0.05 over the contenders" in (root / "report" / "tables" / f"{name}.md").read_text()


def test_data_efficiency_marks_one_seed_intervals_and_says_parentheses(one_seed):
    root, _ = one_seed
    text = (root / "report" / "tables" / "data_efficiency.md").read_text()
    assert "in parentheses the paired gain" in text and "in brackets" not in text
    # the baseline at 79:1, one seed: 0.47 ± 1.96 × SD/√8 over images (SD of 8 values 0.02 apart, ddof 0)
    assert "0.470 [0.438, 0.502]†" in text
    assert "Warning: at 79:1 each model was fine-tuned on 1 image" in text


@pytest.fixture(scope="module")
def rising(tmp_path_factory):
    """MAE scores higher at 79:1 (fewer labels) than at 50:30; the baseline falls."""
    root = tmp_path_factory.mktemp("rising") / "run"
    write_config(root, ["supervised", "mae"], ["50:30", "79:1"], [0, 1, 2])
    write_dataset(root)
    offsets = {("supervised", "50:30"): 0.2, ("supervised", "79:1"): 0.0, ("mae", "50:30"): 0.0, ("mae", "79:1"): 0.1}
    for (method, ratio), offset in offsets.items():
        for seed, jitter in enumerate([0.0, 0.02, -0.02]):
            add_finetune(root, method, ratio, seed, image_metrics((BASE + offset + jitter).tolist()))
    build_report(root, formats=("png",))
    return root


def test_data_efficiency_flags_dice_rising_with_fewer_labels_and_never_bolds_it(rising):
    text = (rising / "report" / "tables" / "data_efficiency.md").read_text()
    mae = next(line for line in text.splitlines() if line.startswith("| MAE"))
    # MAE: 0.47 at 50:30, 0.57 at 79:1: +21.3 %, flagged, and not bold although it is the best change
    assert mae.endswith("| +21.3 ‡ |")
    assert "Dice rises with 30× fewer labels (50:30 → 79:1) for MAE:" in text
    frame = pd.read_csv(rising / "report" / "tables" / "data_efficiency.csv").set_index("method")
    assert bool(frame.loc["mae", "rises_with_fewer_labels"]) and not bool(frame.loc["supervised", "rises_with_fewer_labels"])


def _block(verdict: str, mdd: float, seeds: int = 3) -> pd.DataFrame:
    """A baseline and MAE alone (a family of one: df S − 1), SE 0.01 with no image term."""
    shared = {"run_mdd": mdd, "run_mdd_low": mdd / 2, "run_mdd_high": 2 * mdd, "n_seeds": seeds}
    return pd.DataFrame([
        {"method": "supervised", "role": "baseline", "mean": 0.60, "verdict": "baseline", "pair_seeds": 0,
         "se": np.nan, "mdd": np.nan, "image_share": np.nan, "df": np.nan, "family_size": np.nan, **shared},
        {"method": "mae", "role": "contender", "mean": 0.68, "verdict": verdict, "pair_seeds": seeds,
         "se": 0.01, "mdd": mdd, "image_share": 0.0, "df": seeds - 1, "family_size": 1, **shared}])


@pytest.mark.usefixtures("study_looks")
def test_ratio_answer_names_a_detected_difference():
    text = ratio_answer(_block("better", 0.04), "70:10", SignificanceSettings())
    assert text == ("At 70:10, MAE is ahead: +0.080 Dice over UNet (no PT). The run can tell: MAE is significantly "
                    "better than UNet (no PT) (run-level many-to-one test, family-wise). Its 3 seeds already detect a 0.05 "
                    "Dice difference.")


@pytest.mark.usefixtures("study_looks")
def test_ratio_answer_gives_the_seeds_a_005_gap_needs_with_the_range_its_spread_allows():
    from scipy.stats import chi2
    settings = SignificanceSettings()
    text = ratio_answer(_block("no detectable difference", 0.3), "79:1", settings)
    seed_var = 0.01 ** 2 * 3  # SE² · S: the variance of one per-seed difference
    needed = [seeds_for(0.05, v, 0.0, 1) for v in (seed_var, seed_var * 2 / chi2.ppf(0.975, 2),
                                                   seed_var * 2 / chi2.ppf(0.025, 2))]
    assert needed[1] < needed[0] < needed[2]
    assert "The run cannot tell: no method differs detectably from UNet (no PT); with 3 seeds it detects only " \
           "differences of about 0.300 Dice or more." in text
    assert text.endswith(f"About {needed[0]} ({needed[1]}–{needed[2]}) seeds would detect a 0.05 Dice difference "
                         "(this run: 3; the range is what the spread's 95 % interval allows).")


@pytest.mark.usefixtures("study_looks")
def test_the_first_lines_say_whether_the_run_resolves_005_dice():
    blocks = pd.concat([_block("no detectable difference", 0.04).assign(ratio="79:1")])
    assert resolution_line(blocks) == ("Resolves 0.05 Dice: at 79:1 a contender 0.05 Dice from the baseline is "
                                       "detected with 80 % power (MDD 0.040 (0.020–0.080), 3 seeds).")
    coarse = resolution_line(_block("no detectable difference", 0.3).assign(ratio="79:1"))
    assert coarse.startswith("Does not resolve 0.05 Dice: at 79:1 it detects only differences of 0.300 "
                             "(0.150–0.600) or more (3 seeds); about ")


def test_synthetic_data_is_a_smoke_test(tmp_path):
    root = tmp_path / "run"
    config = {"profile": "paper", "data": {"source": "synthetic"}, "methods": ["supervised", "mae"],
              "ratios": ["50:30"], "seeds": [0, 1, 2]}
    claim_run(root, config)
    for method in ("supervised", "mae"):
        for seed in range(3):
            add_finetune(root, method, "50:30", seed, image_metrics((BASE + 0.01 * seed).tolist()))
    summary = build_report(root, formats=("png",)).summary
    assert summary[0] == ("Smoke test, not a result: this run shows that the pipeline works, not which method is "
                          "better (synthetic images, not angiograms).")


def _small_sets_run(root, control_gain: float):
    """A small-profile run on a folder, 3 seeds, baseline and positive control; at 79:1 the
    fine-tuning set is 1 training and 1 validation image (200-image splits)."""
    config = {"profile": "small", "data": {"source": "/data/angiograms"}, "methods": ["supervised", "control-oracle"],
              "ratios": ["50:30", "79:1"], "seeds": [0, 1, 2]}
    claim_run(root, config)
    write_looks(root, looks_of(registry()))
    write_dataset(root)
    for ratio in ("50:30", "79:1"):
        for seed, jitter in enumerate([0.0, 0.01, -0.01]):
            add_finetune(root, "supervised", ratio, seed, image_metrics((BASE + jitter).tolist()))
            parents = (add_pretrain(root, "control-oracle", ratio, seed),)
            add_finetune(root, "control-oracle", ratio, seed,
                         image_metrics((BASE + control_gain + jitter).tolist()), depends_on=parents)
    return build_report(root, formats=("png",))


def test_a_detected_positive_control_comes_first_and_small_sets_become_a_caveat(tmp_path):
    result = _small_sets_run(tmp_path / "run", control_gain=0.1)
    summary = result.summary
    assert summary[0].startswith("Positive control detected: Positive control (supervised PT with labels) is "
                                 "significantly better than the baseline (Δ Dice +0.100 [")
    assert summary[1].startswith("Caveat: at 79:1 each model was fine-tuned on 1 image and its learning rate "
                                 "chosen on 1 validation image. ")
    assert not any(line.startswith("Smoke test") for line in summary)
    assert sum(line.startswith("Positive control detected") for line in summary) == 1  # said once
    answer = re.search(r'<section id="answer"><h2>[^<]*</h2>(.*?)</section>', result.index_html.read_text()).group(1)
    assert answer.startswith('<p class="control">Positive control detected') and '<p class="warn">Caveat: ' in answer


def test_an_undetected_positive_control_leaves_small_sets_a_smoke_test(tmp_path):
    summary = _small_sets_run(tmp_path / "run", control_gain=0.0).summary
    assert summary[0] == ("Smoke test, not a result: this run shows that the pipeline works, not which method is "
                          "better (at 79:1 each model was fine-tuned on 1 image and its learning rate chosen on 1 "
                          "validation image).")
    assert any(line.startswith("Positive control NOT detected") for line in summary[1:])
