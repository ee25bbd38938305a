"""The report's numbers against values worked out by hand: Table I, data efficiency, paired tests
with Holm's correction, confidence intervals, diameter agreement."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from benchmark.data.splits import Ratio
from reports.agreement import bland_altman, diameters, pearson
from reports.labels import DICE, HD, order_methods, order_ratios
from reports.significance import compare_methods, holm, markers, paired_wilcoxon
from reports.stats import bootstrap_interval, cell_means, cell_summary, gains, relative_change, t_interval
from reports.tables import efficiency_table, p_text, significance_table, table_one


def cell_rows(method: str, ratio: str, seed: int, dice: list[float], **metrics: list[float]) -> pd.DataFrame:
    """Rows of one fine-tune job; metrics not given are filled with fixed values."""
    n = len(dice)
    parsed = Ratio.parse(ratio)
    frame = pd.DataFrame({
        "image_id": [f"img{i:02d}" for i in range(n)], "dice": dice,
        "cldice": metrics.get("cldice", [0.5] * n), "iou": metrics.get("iou", [0.4] * n),
        "hd": metrics.get("hd", [5.0] * n), "hd95": metrics.get("hd95", [9.0] * n),
        "nsd": metrics.get("nsd", [0.7] * n), "add": metrics.get("add", [1.0] * n),
        "diameter_pred": metrics.get("diameter_pred", [3.0] * n), "diameter_gt": metrics.get("diameter_gt", [3.0] * n),
    })
    return frame.assign(job_key=f"finetune-{method}-{ratio}-{seed}", method=method, pt_ratio=parsed.pt,
                        ft_ratio=parsed.ft, ratio=parsed.label, seed=seed, params_finetune=31_040_000)


def jobs_frame(params_pretrain: dict[str, int]) -> pd.DataFrame:
    return pd.DataFrame([{"job_key": f"pretrain-{m}", "kind": "pretrain", "method": m, "params": p}
                         for m, p in params_pretrain.items()], columns=["job_key", "kind", "method", "params"])


# --- ordering -------------------------------------------------------------------------------------

def test_ratios_run_from_smallest_to_largest_finetuning_share():
    assert order_ratios(["50:30", "79:1", "70:10", "75:5", "60:20", "79:1"]) == ["79:1", "75:5", "70:10", "60:20", "50:30"]


def test_study_methods_come_in_table_order_and_others_after():
    assert order_methods(["cmunet", "zeta", "supervised", "alpha", "mae"]) == ["supervised", "mae", "cmunet", "alpha", "zeta"]


# --- Table I --------------------------------------------------------------------------------------

@pytest.fixture
def table_one_rows() -> pd.DataFrame:
    """Supervised: two seeds whose per-image means are .3 .4 .5 .8 (mean .5, SD .2160);
    CM-UNet: one seed, Dice .6 .7 .8 .9 (mean .75, SD .1291), HD 2 2 3 3 (mean 2.5, SD .5774)."""
    return pd.concat([
        cell_rows("supervised", "79:1", 0, [0.2, 0.4, 0.6, 0.8], hd=[4.0, 6.0, 8.0, 10.0]),
        cell_rows("supervised", "79:1", 1, [0.4, 0.4, 0.4, 0.8], hd=[4.0, 6.0, 8.0, 10.0]),
        cell_rows("cmunet", "79:1", 0, [0.6, 0.7, 0.8, 0.9], hd=[2.0, 2.0, 3.0, 3.0]),
    ], ignore_index=True)


def test_table_one_gives_mean_and_sd_over_images_of_seed_averaged_values(table_one_rows):
    comparison = compare_methods(table_one_rows, DICE, "supervised")
    table = table_one(table_one_rows, jobs_frame({"cmunet": 121_490_000}), "79:1", comparison, "supervised")
    by_method = {row[0]: row for row in table.cells}
    dice_col, hd_col = table.columns.index("Dice"), table.columns.index("HD (px)")
    assert by_method["UNet (no PT)"][dice_col] == "0.500 ± 0.216"
    assert by_method["CM-UNet"][dice_col] == "0.750 ± 0.129"
    assert by_method["UNet (no PT)"][hd_col] == "7.00 ± 2.58"
    assert by_method["CM-UNet"][hd_col] == "2.50 ± 0.58"
    assert by_method["CM-UNet"][1:3] == ("121.49", "31.04")
    assert by_method["UNet (no PT)"][1] == "—"
    data = table.data.set_index("method")
    assert data.loc["supervised", "dice_sd"] == pytest.approx(math.sqrt(0.14 / 3))


def test_table_one_bolds_the_best_of_each_column_by_its_direction(table_one_rows):
    comparison = compare_methods(table_one_rows, DICE, "supervised")
    table = table_one(table_one_rows, jobs_frame({}), "79:1", comparison, "supervised")
    cmunet = [row[0] for row in table.cells].index("CM-UNet")
    assert table.is_bold(cmunet, table.columns.index("Dice"))
    assert table.is_bold(cmunet, table.columns.index("HD (px)"))  # lower is better
    supervised = 1 - cmunet
    # equal clDice (0.5 everywhere): a tie, both bold
    assert table.is_bold(supervised, table.columns.index("clDice")) and table.is_bold(cmunet, table.columns.index("clDice"))
    assert not table.is_bold(supervised, table.columns.index("Dice"))


# --- data efficiency ------------------------------------------------------------------------------

@pytest.fixture
def headline_rows() -> pd.DataFrame:
    """The study's numbers: supervised .708 → .375, CM-UNet .738 → .627 (every image the same)."""
    return pd.concat([
        cell_rows("supervised", "50:30", 0, [0.708] * 6), cell_rows("supervised", "79:1", 0, [0.375] * 6),
        cell_rows("cmunet", "50:30", 0, [0.738] * 6), cell_rows("cmunet", "79:1", 0, [0.627] * 6),
    ], ignore_index=True)


def test_relative_dice_change_from_largest_to_smallest_finetuning_share(headline_rows):
    change = relative_change(cell_means(headline_rows, "dice"))
    assert change["supervised"] == pytest.approx(100 * (0.375 - 0.708) / 0.708)
    assert round(change["supervised"], 1) == -47.0
    assert round(change["cmunet"], 1) == -15.0


def test_gain_over_baseline_at_each_ratio(headline_rows):
    gain = gains(cell_means(headline_rows, "dice"), "supervised")
    assert gain.loc["cmunet", "79:1"] == pytest.approx(0.252)
    assert gain.loc["cmunet", "50:30"] == pytest.approx(0.030)
    assert gain.loc["supervised"].tolist() == [0.0, 0.0]


def test_efficiency_table_shows_gain_and_change_with_ratios_left_to_right(headline_rows):
    comparison = compare_methods(headline_rows, DICE, "supervised")
    table = efficiency_table(headline_rows, comparison, "supervised")
    assert table.columns == ("Method", "79:1", "50:30", "Change 50:30 → 79:1 (%)")
    rows = {row[0]: row for row in table.cells}
    # identical images: every paired difference is the same sign and size, n = 6 → p = 2/64 < 0.05
    assert rows["CM-UNet"][1] == "0.627 (+0.252)†"
    assert rows["UNet (no PT)"] == ("UNet (no PT)", "0.375‡", "0.708‡", "−47.0")  # below CM-UNet on every image
    assert rows["CM-UNet"][3] == "−15.0"
    assert table.is_bold(1, 3) and not table.is_bold(0, 3)


def test_efficiency_table_without_baseline_or_second_ratio_shows_no_gain_or_change():
    rows = pd.concat([cell_rows("mae", "79:1", 0, [0.4] * 6), cell_rows("cmunet", "79:1", 0, [0.5] * 6)])
    table = efficiency_table(rows, compare_methods(rows, DICE, "supervised"), "supervised")
    assert table.columns == ("Method", "79:1")
    # every image 0.1 apart: 6 same-sign pairs → p = 2/64, so MAE differs from the best (CM-UNet)
    assert table.cells == (("MAE", "0.400‡"), ("CM-UNet", "0.500"))
    assert "no UNet (no PT) results" in table.notes[0]


def test_pvalue_text_keeps_a_digit_where_rounding_would_cross_the_level():
    assert (p_text(0.0499), p_text(0.0504), p_text(0.12345), p_text(0.0004)) == ("0.0499", "0.050", "0.123", "< 0.001")


# --- paired tests and Holm -----------------------------------------------------------------------

def test_holm_on_known_pvalues():
    # sorted .005 .01 .03 .04 → ×4 ×3 ×2 ×1 = .02 .03 .06 .04 → monotone: .02 .03 .06 .06
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])


def test_holm_caps_at_one_and_leaves_nan_out_of_the_family():
    assert holm([0.6, 0.7]) == pytest.approx([1.0, 1.0])
    adjusted = holm([0.2, float("nan"), 0.01])
    assert adjusted[[0, 2]] == pytest.approx([0.2, 0.02]) and math.isnan(adjusted[1])


def test_wilcoxon_of_eight_same_sign_differences_is_the_exact_minimum():
    a = np.linspace(0.4, 0.54, 8)
    assert paired_wilcoxon(a + np.arange(1, 9) / 100, a) == pytest.approx(2 / 2**8)
    assert paired_wilcoxon(a, a) == 1.0


@pytest.fixture
def paired_rows() -> pd.DataFrame:
    """8 images at 79:1. CM-UNet beats supervised on every image; MAE alternates around supervised
    (signed ranks +1 −2 +3 −4 +5 −6 +7 −8 → exact p = 0.84375) and is below CM-UNet on every image."""
    base = np.linspace(0.40, 0.54, 8)
    cmunet = base + np.array([0.10, 0.12, 0.14, 0.16, 0.18, 0.20, 0.22, 0.24])
    mae = base + np.array([0.01, -0.02, 0.03, -0.04, 0.05, -0.06, 0.07, -0.08])
    return pd.concat([cell_rows("supervised", "79:1", 0, base.tolist()), cell_rows("mae", "79:1", 0, mae.tolist()),
                      cell_rows("cmunet", "79:1", 0, cmunet.tolist())], ignore_index=True)


def test_comparison_against_baseline_and_best_is_holm_corrected_per_family(paired_rows):
    result = compare_methods(paired_rows, DICE, "supervised").set_index("method")
    assert result["best"].unique().tolist() == ["cmunet"]
    assert result.loc["cmunet", "p_baseline"] == pytest.approx(2 / 256)
    assert result.loc["mae", "p_baseline"] == pytest.approx(0.84375)
    assert result.loc["cmunet", "p_baseline_holm"] == pytest.approx(4 / 256)  # family of 2
    assert result.loc["mae", "p_baseline_holm"] == pytest.approx(0.84375)
    assert result.loc[["supervised", "mae"], "p_best_holm"].tolist() == pytest.approx([4 / 256, 4 / 256])
    assert math.isnan(result.loc["supervised", "p_baseline"]) and math.isnan(result.loc["cmunet", "p_best"])
    assert math.isnan(result.loc["cmunet", "p_seeds_baseline"])  # one seed: no test over seeds
    assert [markers(result.loc[m]) for m in ("supervised", "mae", "cmunet")] == ["‡", "‡", "†"]


def test_significance_table_names_baseline_and_best_instead_of_a_pvalue(paired_rows):
    table = significance_table(compare_methods(paired_rows, DICE, "supervised"), "supervised")
    rows = {row[1]: row for row in table.cells}
    col = table.columns.index("Holm p vs baseline")
    assert rows["UNet (no PT)"][col] == "baseline"
    assert rows["CM-UNet"][col] == "0.016"
    assert rows["CM-UNet"][table.columns.index("p vs best")] == "best"
    assert "p vs baseline, seeds" not in table.columns  # single seed
    assert table.is_bold(list(rows).index("CM-UNet"), col)


def test_seed_level_test_pairs_seed_means_when_several_seeds():
    frames = []
    for seed, shift in enumerate([0.1, 0.2, 0.3, 0.4, 0.5, 0.6]):
        frames += [cell_rows("supervised", "79:1", seed, [0.3, 0.4]), cell_rows("cmunet", "79:1", seed, [0.3 + shift, 0.4])]
    result = compare_methods(pd.concat(frames), DICE, "supervised").set_index("method")
    # six seeds, every seed mean higher for CM-UNet → exact p = 2/64
    assert result.loc["cmunet", "p_seeds_baseline"] == pytest.approx(2 / 64)
    assert result.loc["cmunet", "n_seeds"] == 6


# --- confidence intervals -------------------------------------------------------------------------

def test_t_interval_of_three_seed_means():
    low, high = t_interval(np.array([0.4, 0.5, 0.6]))
    half = 4.302652729749462 * 0.1 / math.sqrt(3)
    assert (low, high) == pytest.approx((0.5 - half, 0.5 + half))


def test_bootstrap_interval_is_deterministic_and_brackets_the_mean():
    values = np.array([0.1, 0.5, 0.6, 0.9, 0.2, 0.7])
    first, second = bootstrap_interval(values), bootstrap_interval(values)
    assert first == second
    assert first[0] < values.mean() < first[1]
    assert bootstrap_interval(np.full(5, 0.42)) == pytest.approx((0.42, 0.42))


def test_cell_summary_uses_seeds_when_several_and_images_when_one(table_one_rows):
    summary = cell_summary(table_one_rows, HD.key).set_index("method")
    assert summary.loc["supervised", "ci_kind"] == "t-interval over 2 seeds"
    assert summary.loc["supervised", ["ci_low", "ci_high"]].tolist() == pytest.approx([7.0, 7.0])  # seeds agree
    assert summary.loc["cmunet", "ci_kind"] == "bootstrap over 4 test images"
    assert summary.loc["cmunet", "mean"] == 2.5


# --- diameters ------------------------------------------------------------------------------------

def test_pearson_r_of_constructed_diameters():
    # deviations gt −2 −1 0 1 2, pred −1.6 −1.6 .4 .4 2.4: Sxy = 10, Sxx = 10, Syy = 11.2 → r = 10/√112;
    # t = r√3/√(1−r²) = 5 exactly
    fit = pearson(np.array([1, 2, 3, 4, 5.0]), np.array([2, 2, 4, 4, 6.0]))
    assert fit.r == pytest.approx(10 / math.sqrt(112))
    from scipy.stats import t
    assert fit.p == pytest.approx(2 * t.sf(5.0, 3))
    assert (fit.slope, fit.intercept) == pytest.approx((1.0, 0.6))


def test_pearson_of_constant_diameters_is_undefined_not_an_error():
    assert math.isnan(pearson(np.ones(4), np.arange(4.0)).r)


def test_bland_altman_mean_difference_and_limits():
    # differences 1 0 1 0 1: mean .6, SD √(1.2/4) = √.3
    result = bland_altman(np.array([1, 2, 3, 4, 5.0]), np.array([2, 2, 4, 4, 6.0]))
    sd = math.sqrt(0.3)
    assert (result.mean_difference, result.sd) == pytest.approx((0.6, sd))
    assert (result.lower, result.upper) == pytest.approx((0.6 - 1.96 * sd, 0.6 + 1.96 * sd))


def test_diameters_are_averaged_over_seeds_per_image():
    rows = pd.concat([cell_rows("cmunet", "79:1", 0, [0.5, 0.5], diameter_pred=[2.0, 4.0], diameter_gt=[3.0, 5.0]),
                      cell_rows("cmunet", "79:1", 1, [0.5, 0.5], diameter_pred=[4.0, 6.0], diameter_gt=[3.0, 5.0])])
    frame = diameters(rows, "cmunet", "79:1")
    assert frame["diameter_pred"].tolist() == [3.0, 5.0] and frame["diameter_gt"].tolist() == [3.0, 5.0]
