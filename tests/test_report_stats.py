"""The report's numbers against values worked out by hand: Table I, data efficiency, the run-level
(two-level bootstrap) test, its power and minimum detectable difference, tie-aware ranking, the
controls' verdicts and false-positive rates, the budget table, Holm's correction, diameter agreement;
and the run-level test's error rates by simulation (known answers, fixed random seed, no training)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from benchmark.data.splits import Ratio
from reports.stats.agreement import bland_altman, diameters, pearson
from reports.tables.budget import budget_table
from reports.tables.controls import controls_table, findings
from reports.stats.hierarchical import SignificanceSettings, detectable_text, run_level
from reports.labels import DICE, HD, TABLE_ONE_METRICS, order_methods, order_ratios
from reports.stats.significance import compare_methods, holm, marker, ranking_text, tie_ranks, wilcoxon_p
from reports.stats.numbers import cell_means, cell_summary, relative_change
from reports.tables.study import efficiency_table, p_text, power_table, significance_table, table_one

pytestmark = pytest.mark.usefixtures("study_looks")  # methods named as their files declare


def nct_factor(df: int, alpha: float, power: float = 0.8) -> float:
    """The MDD in standard errors from scipy's noncentral t (exact where δ is moderate): an independent
    check of reports.stats.hierarchical.detectable_effect."""
    from scipy import optimize
    from scipy.stats import nct, t
    critical = t.ppf(1 - alpha / 2, df)
    return optimize.brentq(lambda d: nct.sf(critical, df, d) + np.nan_to_num(nct.cdf(-critical, df, d)) - power,
                          0.0, 15.0)  # the lower tail is ~0 where scipy returns NaN for it


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


def test_relative_change_from_a_zero_dice_is_no_number_not_infinity():
    rows = pd.concat([cell_rows("mae", "50:30", 0, [0.0] * 6), cell_rows("mae", "79:1", 0, [0.2] * 6)],
                     ignore_index=True)
    assert np.isnan(relative_change(cell_means(rows, "dice"))["mae"])


def test_efficiency_table_shows_mean_ci_gain_and_change_with_ratios_left_to_right(headline_rows):
    table = efficiency_table(compare_methods(headline_rows, DICE, "supervised"), "supervised")
    assert table.columns == ("Method", "79:1", "50:30", "Change 50:30 → 79:1 (%)")
    rows = {row[0]: row for row in table.cells}
    # one seed, every image equal: the interval (over images only: †) has no width, and no marker is given
    assert rows["CM-UNet"][1] == "0.627 [0.627, 0.627]† (+0.252)"
    assert rows["UNet (no PT)"] == ("UNet (no PT)", "0.375 [0.375, 0.375]†", "0.708 [0.708, 0.708]†", "−47.0")
    assert rows["CM-UNet"][3] == "−15.0"
    assert table.is_bold(1, 3) and not table.is_bold(0, 3)


def test_efficiency_table_without_baseline_or_second_ratio_shows_no_gain_or_change():
    rows = pd.concat([cell_rows("mae", "79:1", 0, [0.4] * 6), cell_rows("cmunet", "79:1", 0, [0.5] * 6)])
    table = efficiency_table(compare_methods(rows, DICE, "supervised"), "supervised")
    assert table.columns == ("Method", "79:1")
    assert table.cells == (("MAE", "0.400 [0.400, 0.400]†"), ("CM-UNet", "0.500 [0.500, 0.500]†"))
    assert "no UNet (no PT) results" in table.notes[0]


def test_pvalue_text_keeps_a_digit_where_rounding_would_cross_the_level():
    assert (p_text(0.0499), p_text(0.0504), p_text(0.12345), p_text(0.0004)) == ("0.0499", "0.050", "0.123", "< 0.001")


# --- Holm and the image-level test ----------------------------------------------------------------

def test_holm_on_known_pvalues():
    # sorted .005 .01 .03 .04 → ×4 ×3 ×2 ×1 = .02 .03 .06 .04 → monotone: .02 .03 .06 .06
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])


def test_holm_caps_at_one_and_leaves_nan_out_of_the_family():
    assert holm([0.6, 0.7]) == pytest.approx([1.0, 1.0])
    adjusted = holm([0.2, float("nan"), 0.01])
    assert adjusted[[0, 2]] == pytest.approx([0.2, 0.02]) and math.isnan(adjusted[1])


def test_wilcoxon_of_eight_same_sign_differences_is_the_exact_minimum():
    assert wilcoxon_p(np.arange(1, 9) / 100) == pytest.approx(2 / 2**8)
    assert wilcoxon_p(np.zeros(5)) == 1.0


# --- the two-level bootstrap, by hand ---------------------------------------------------------------

THREE_SEEDS = np.array([[0.1, 0.3, 0.5, 0.7], [0.2, 0.2, 0.2, 0.2], [0.6, 0.6, 0.9, 0.9]])


# seed means .4 .2 .75 (grand .45): between = (.05² + .25² + .3²)/3 = .155/3; within-seed variances
# .05, 0, .0225 → mean/4 images = .0725/12: the two-level bootstrap's variance of the grand mean
THREE_SEEDS_BOOTSTRAP_VAR = (0.155 / 3 + 0.0725 / 12) / 3


def test_run_level_standard_error_is_the_bootstrap_variance_with_the_seed_term_corrected_by_hand():
    """The seed term × S/(S − 1) (the bootstrap under-states the spread between 3 seeds by 2/3)."""
    assert run_level(THREE_SEEDS).se ** 2 == pytest.approx((0.155 / 3 * 3 / 2 + 0.0725 / 12) / 3)


def test_two_level_bootstrap_variance_is_that_of_explicit_resampling():
    """Resample seeds, then images within each drawn seed, 200,000 times: the replicate means' variance
    is the closed form's (the closed form is the infinitely-many-resamples limit)."""
    rng = np.random.default_rng(7)
    samples, (n_seeds, n_images) = 200_000, THREE_SEEDS.shape
    seeds = rng.integers(0, n_seeds, size=(samples, n_seeds, 1))
    images = rng.integers(0, n_images, size=(samples, n_seeds, n_images))
    replicates = THREE_SEEDS[seeds, images].mean(axis=(1, 2))
    assert replicates.mean() == pytest.approx(THREE_SEEDS.mean(), abs=1e-3)
    assert replicates.var() == pytest.approx(THREE_SEEDS_BOOTSTRAP_VAR, rel=0.02)


FOUR_SEED_DIFFERENCES = np.array([[0.1, 0.3], [0.0, 0.2], [0.2, 0.2], [0.3, 0.1]])


def test_run_level_estimate_of_paired_differences_by_hand():
    # seed means .2 .1 .2 .2: mean .175, sample variance .0075/3 = .0025; within-seed variances
    # .01 .01 0 .01 → mean/2 images = .00375; SE² = (.0025 + .00375)/4 = .0015625
    from scipy.stats import t
    estimate = run_level(FOUR_SEED_DIFFERENCES)
    se = math.sqrt(0.0015625)
    assert (estimate.mean, estimate.se) == pytest.approx((0.175, se))
    assert estimate.p == pytest.approx(2 * t.sf(0.175 / se, 3))
    assert (estimate.ci_low, estimate.ci_high) == pytest.approx((0.175 - t.ppf(0.975, 3) * se, 0.175 + t.ppf(0.975, 3) * se))
    assert estimate.mdd == pytest.approx(nct_factor(3, 0.05) * se)
    assert estimate.testable and bool(estimate.significant(0.05))  # p = 0.021


@pytest.mark.parametrize("df, alpha", [(2, 0.05), (4, 0.05 / 6), (9, 0.05), (9, 0.05 / 6)])
def test_mdd_factor_is_the_noncentral_t_power_solution(df, alpha):
    from reports.stats.hierarchical import detectable_effect, t_test_power
    assert detectable_effect(df, alpha, 0.8) == pytest.approx(nct_factor(df, alpha), rel=1e-5)
    assert t_test_power(detectable_effect(df, alpha, 0.8), df, alpha) == pytest.approx(0.8, abs=1e-6)
    assert t_test_power(0.0, df, alpha) == pytest.approx(alpha, rel=1e-4)  # no effect: the level itself


def test_too_few_seeds_give_no_verdict_but_a_detectable_limit():
    two = run_level(FOUR_SEED_DIFFERENCES[:2])  # seed means .2 .1: p = 0.16 anyway, and 2 < 3 seeds
    assert not two.testable and not bool(two.significant(0.05))
    assert detectable_text(2, float(two.mdd)) == f"2 seeds: a difference below {float(two.mdd):.3f} cannot be detected"
    assert bool(run_level(FOUR_SEED_DIFFERENCES[:2], SignificanceSettings(min_seeds=2)).testable)
    one = run_level(FOUR_SEED_DIFFERENCES[:1])  # .1 .3: over the two images only, normal interval
    assert one.se == pytest.approx(math.sqrt(0.01 / 2)) and math.isnan(one.p) and math.isnan(one.mdd)
    assert one.ci_high - one.mean == pytest.approx(1.959964 * math.sqrt(0.005))
    assert detectable_text(1, float(one.mdd)).startswith("1 seed: run-to-run spread unknown")


# --- the run-level test by simulation -----------------------------------------------------------------

SEED_SD, IMAGE_SD, N_IMAGES, N_RUNS = 0.08, 0.15, 300, 200


def simulated_differences(n_seeds: int, effect: float, runs: int = N_RUNS, seed: int = 2024) -> np.ndarray:
    """(runs, seeds, images) of method − baseline. Each of the two methods' trainings has its own seed
    effect (SD 0.08) and per-image noise (SD 0.15); images share a difficulty (SD 0.1) that pairing
    removes; the method's true gain is `effect`."""
    rng = np.random.default_rng(seed)
    difficulty = rng.normal(0.0, 0.1, size=(runs, 1, 1, N_IMAGES))
    values = (0.6 + difficulty + rng.normal(0.0, SEED_SD, size=(runs, 2, n_seeds, 1))
              + rng.normal(0.0, IMAGE_SD, size=(runs, 2, n_seeds, N_IMAGES)))
    return values[:, 1] + effect - values[:, 0]


def image_test_fires(differences: np.ndarray, alpha: float = 0.05) -> np.ndarray:
    """The report's secondary, image-level test on each simulated table (images averaged over seeds)."""
    return np.array([wilcoxon_p(run.mean(axis=0)) < alpha for run in differences])


# 200 runs at a true 5 %: SD of the rate √(.05·.95/200) = 1.5 %; 5 % + 2.5 SD ≈ 8.8 % → at most 17 of 200
NULL_MAX_FIRED = 17


@pytest.mark.parametrize("n_seeds", [3, 10])
def test_run_level_marker_fires_at_most_five_percent_under_no_effect(n_seeds):
    fired = run_level(simulated_differences(n_seeds, 0.0)).significant(0.05)
    assert 2 <= fired.sum() <= NULL_MAX_FIRED  # and it is a test at all (not one that never fires)


@pytest.mark.parametrize("n_seeds", [3, 10])
def test_image_level_test_fires_far_more_often_on_the_same_null_tables(n_seeds):
    differences = simulated_differences(n_seeds, 0.0)
    # the seed effects shift every image of a run the same way; 300 images make any shift "significant"
    assert image_test_fires(differences).sum() >= 5 * NULL_MAX_FIRED


def test_true_effect_of_015_is_detected_with_ten_seeds():
    # seed-mean difference SD √(2·.08² + 2·.15²/300) = .114, SE .036: expected power ≈ 95 %; assert ≥ 85 %
    estimate = run_level(simulated_differences(10, 0.15))
    assert estimate.significant(0.05).mean() >= 0.85
    assert (estimate.mean > 0).all()


def test_a_true_difference_equal_to_the_mdd_is_detected_with_the_stated_power():
    from scipy.stats import t
    sd = math.sqrt(2 * SEED_SD**2 + 2 * IMAGE_SD**2 / N_IMAGES)
    true_mdd = nct_factor(9, 0.05) * sd / math.sqrt(10)
    estimate = run_level(simulated_differences(10, true_mdd, runs=400, seed=5))
    assert np.median(estimate.mdd) == pytest.approx(true_mdd, rel=0.1)
    assert 0.70 <= estimate.significant(0.05).mean() <= 0.90  # 80 %, ± 5 SD of 400 runs


def as_rows(differences: np.ndarray, ratio: str = "79:1") -> pd.DataFrame:
    """A simulated table as result rows: the baseline at 0.6 everywhere, MAE at 0.6 + the difference."""
    n_seeds, n_images = differences.shape
    frames = [cell_rows(method, ratio, s, (0.6 + shift * differences[s]).tolist())
              for s in range(n_seeds) for method, shift in (("supervised", 0), ("mae", 1))]
    return pd.concat(frames, ignore_index=True)


def test_report_marker_is_the_simulated_test():
    """The same tables through the report's own path give the same verdicts as the array test (one
    contender: a family of one, reports.stats.manytoone)."""
    from reports.stats.manytoone import many_to_one
    differences = np.concatenate([simulated_differences(10, 0.0, runs=4), simulated_differences(10, 0.15, runs=4)])
    expected = np.array([many_to_one([table]).p_family[0] < 0.05 for table in differences])
    assert 0 < expected.sum() < len(expected)
    for table, fires in zip(differences, expected):
        test = compare_methods(as_rows(table), DICE, "supervised").set_index("method").loc["mae"]
        assert bool(test["significant"]) == bool(fires)
        assert marker(test) == ("↑" if fires and test["diff"] > 0 else "↓" if fires else "")


# --- comparisons, ranking and controls on a constructed table ---------------------------------------

def four_seed_rows(method: str, ratio: str, base: np.ndarray, differences: np.ndarray) -> pd.DataFrame:
    return pd.concat([cell_rows(method, ratio, s, (base[s] + differences[s]).tolist())
                      for s in range(len(differences))], ignore_index=True)


EIGHT_IMAGE_DIFFERENCES = np.tile(FOUR_SEED_DIFFERENCES, (1, 4))  # seed means .2 .1 .2 .2 over 8 images


@pytest.fixture
def controlled_rows() -> pd.DataFrame:
    """Four seeds × eight images at 79:1 and 50:30. At both ratios: CM-UNet = supervised + the
    EIGHT_IMAGE_DIFFERENCES (mean .175, p = 0.0094), MAE = supervised + those / 10 (same p, a tenth of
    the gap), the positive control = supervised + twice them. The negative control at 79:1 is supervised +
    them (a run-level false positive); at 50:30 each seed is shifted by +.1 −.05 −.04 +.01 (mean .005,
    run-level p ≈ 0.9) plus .001·(image + 1), so every seed-averaged image is above the baseline (an
    image-level false positive only)."""
    rng = np.random.default_rng(3)
    base = rng.uniform(0.3, 0.6, size=(4, 8)).round(3)
    null_5030 = np.array([[0.1], [-0.05], [-0.04], [0.01]]) + 0.001 * np.arange(1, 9)
    frames = []
    for ratio in ("79:1", "50:30"):
        frames += [four_seed_rows("supervised", ratio, base, np.zeros((4, 8))),
                   four_seed_rows("cmunet", ratio, base, EIGHT_IMAGE_DIFFERENCES),
                   four_seed_rows("mae", ratio, base, EIGHT_IMAGE_DIFFERENCES / 10),
                   four_seed_rows("control-oracle", ratio, base, 2 * EIGHT_IMAGE_DIFFERENCES),
                   four_seed_rows("control-null", ratio, base, EIGHT_IMAGE_DIFFERENCES if ratio == "79:1" else null_5030)]
    return pd.concat(frames, ignore_index=True)


def test_tie_ranks_share_the_leaders_rank_within_the_mdd():
    means = pd.Series({"a": 0.70, "b": 0.68, "c": 0.60, "d": 0.59, "e": 0.50})
    assert tie_ranks(means, 0.05, True).tolist() == [1, 1, 3, 3, 5]
    assert tie_ranks(means, 0.05, False).tolist() == [4, 4, 2, 2, 1]  # lower is better: e; d, c; b, a
    assert tie_ranks(means, float("nan"), True).isna().all()
    assert tie_ranks(pd.Series({"a": 0.0, "b": 0.0}), 0.0, True).tolist() == [1, 1]  # identical models: a tie


# By hand, for the 4 × 8 EIGHT_IMAGE_DIFFERENCES: seed means .2 .1 .2 .2 (variance .0025, ddof 1); image
# means .15/.2 alternating, MS images = 4 · var = .002857 below MS residual = .22 / 21 = .01048, so the
# crossed image term is 0. MAE (a tenth) has seed variance .000025; pooled over the two contenders
# (3 df each): .0012625. CM-UNet keeps its own, larger spread; MAE takes the pooled one.
POOLED_TWO = (0.0025 + 0.000025) / 2
CMUNET_SE, MAE_SE = math.sqrt(0.0025 / 4), math.sqrt(POOLED_TWO / 4)
TWO_CONTENDER_DF = 6 / 1.25  # (3 + 3) / (1 + (2 − 1)/4)


def test_comparison_tests_contenders_as_one_family_and_keeps_controls_apart(controlled_rows):
    from scipy.stats import t
    from reports.stats.manytoone import critical_value, detectable_multiple
    result = compare_methods(controlled_rows, DICE, "supervised")
    at = result[result["ratio"] == "79:1"].set_index("method")
    assert at.loc["cmunet", "diff"] == pytest.approx(0.175) and at.loc["mae", "diff"] == pytest.approx(0.0175)
    assert at.loc[["cmunet", "mae"], "se"].tolist() == pytest.approx([CMUNET_SE, MAE_SE])
    assert at.loc["cmunet", "df"] == pytest.approx(TWO_CONTENDER_DF) and at.loc["cmunet", "family_size"] == 2
    p = 2 * t.sf(0.175 / CMUNET_SE, TWO_CONTENDER_DF)
    assert at.loc["cmunet", "p_seeds"] == pytest.approx(p)
    assert p < at.loc["cmunet", "p_family"] < 2 * p  # adjusted, and never harsher than Bonferroni
    # loadings: CM-UNet λ² = (.0012625 / 2 / 4) / .000625 = .2525; MAE's SE is the pooled one: λ² = ½
    critical = critical_value([math.sqrt(0.2525), math.sqrt(0.5)], TWO_CONTENDER_DF, 0.05)
    assert at.loc["cmunet", "critical"] == pytest.approx(critical)
    assert at.loc["cmunet", "diff_low"] == pytest.approx(0.175 - critical * CMUNET_SE)
    assert at.loc["cmunet", "mdd"] == pytest.approx(detectable_multiple(critical, TWO_CONTENDER_DF, 0.8) * CMUNET_SE)
    assert at.loc[["supervised", "cmunet", "mae"], "verdict"].tolist() == ["baseline", "better",
                                                                          "no detectable difference"]
    # each control is its own family of one: Student's t on S − 1 = 3 df with its own spread
    assert at.loc["control-null", "p_family"] == pytest.approx(2 * t.sf(0.175 / CMUNET_SE, 3))
    assert at.loc["control-oracle", "mdd"] == pytest.approx(nct_factor(3, 0.05) * 2 * CMUNET_SE)
    # ties decided by the median contender MDD: MAE's gain of .0175 is a tie with the baseline
    assert at["run_mdd"].iloc[0] == pytest.approx(at.loc[["cmunet", "mae"], "mdd"].median())
    assert at.loc[["cmunet", "mae", "supervised"], "rank"].tolist() == [1, 2, 2]
    assert math.isnan(at.loc["control-oracle", "rank"])  # controls are never ranked
    assert ranking_text(result[result["ratio"] == "79:1"]) == "CM-UNet > MAE = UNet (no PT)"


def test_contenders_with_too_few_seeds_leave_the_family(controlled_rows):
    """MAE with 2 of the 4 seeds has no verdict, so CM-UNet is a family of one: Student's t on its own
    3 degrees of freedom."""
    from scipy.stats import t
    rows = controlled_rows[(controlled_rows["method"] != "mae") | (controlled_rows["seed"] < 2)]
    at = compare_methods(rows, DICE, "supervised").set_index(["ratio", "method"]).loc["79:1"]
    assert at.loc["cmunet", "p_family"] == pytest.approx(2 * t.sf(0.175 / CMUNET_SE, 3))
    assert at.loc["mae", "verdict"] == "too few seeds" and at.loc["mae", "family_size"] == 1
    assert at.loc["cmunet", "mdd"] == pytest.approx(nct_factor(3, 0.05) * CMUNET_SE)
    # with every contender below 3 seeds, the limit is that of the family they would form (two)
    two = compare_methods(rows[rows["seed"] < 2], DICE, "supervised").set_index(["ratio", "method"]).loc["79:1"]
    assert two.loc[["cmunet", "mae"], "family_size"].tolist() == [2, 2]
    assert not two["significant"].any()


def test_image_level_false_positives_count_only_cells_with_seeds_for_a_verdict(controlled_rows):
    """The negative control keeps 2 seeds at 50:30: those cells leave both counts, so the image-level
    rate is over the same cells as the run-level one (the 79:1 ones)."""
    rows = controlled_rows[~((controlled_rows["method"] == "control-null") & (controlled_rows["ratio"] == "50:30")
                             & (controlled_rows["seed"] >= 2))]
    found = findings({m: compare_methods(rows, m, "supervised") for m in TABLE_ONE_METRICS}, DICE)
    cells = len(TABLE_ONE_METRICS)
    assert (found.run_level.fired, found.run_level.cells) == (1, cells)
    assert (found.image_level.fired, found.image_level.cells) == (1, cells)


def test_significance_and_power_tables_show_the_run_level_figures(controlled_rows):
    comparison = compare_methods(controlled_rows, DICE, "supervised")
    table = significance_table(comparison, "supervised")
    row = next(r for r in table.cells if r[:2] == ("79:1", "CM-UNet"))
    cmunet = comparison.set_index(["ratio", "method"]).loc[("79:1", "cmunet")]
    low, high = 0.175 - cmunet["critical"] * CMUNET_SE, 0.175 + cmunet["critical"] * CMUNET_SE
    assert row[table.columns.index("Δ vs baseline [95 % CI]")] == f"+0.175 [+{low:.3f}, +{high:.3f}]"
    assert row[table.columns.index("MDD (range)")] == (f"{cmunet['mdd']:.3f} ({cmunet['mdd_low']:.3f}–"
                                                       f"{cmunet['mdd_high']:.3f})")
    assert row[table.columns.index("Verdict")] == "better" and row[table.columns.index("Rank")] == "1"
    power = power_table(comparison).data.set_index("ratio")
    assert power.loc["79:1", "n_seeds"] == 4 and power.loc["79:1", "largest_abs_diff"] == pytest.approx(0.175)
    assert power.loc["79:1", "ranking"] == "CM-UNet > MAE = UNet (no PT)"


def test_power_table_counts_the_seeds_its_tests_are_paired_on(controlled_rows):
    """A baseline with 4 seeds and contenders with 3 of them: the MDD rests on 3 seeds, and so does
    the table's Seeds column, as its limit text says."""
    rows = controlled_rows[(controlled_rows["method"] == "supervised") | (controlled_rows["seed"] < 3)]
    comparison = compare_methods(rows, DICE, "supervised")
    power = power_table(comparison)
    assert power.data.set_index("ratio").loc["79:1", "n_seeds"] == 3
    row = next(r for r in power.cells if r[0] == "79:1")
    assert row[1] == "3" and row[5].startswith("3 seeds")


def test_positive_control_detected_and_negative_control_false_positive_rates(controlled_rows):
    comparisons = {m: compare_methods(controlled_rows, m, "supervised") for m in TABLE_ONE_METRICS}
    found = findings(comparisons, DICE)
    assert found.positive is not None and found.positive.detected and found.positive.ratio == "79:1"
    assert found.positive.line().startswith("Positive control detected: Positive control (supervised PT with labels)")
    # cells = 2 ratios × every Table I metric; the other metrics are equal everywhere (difference 0, p = 1)
    cells = 2 * len(TABLE_ONE_METRICS)
    assert (found.run_level.fired, found.run_level.cells) == (1, cells)
    assert (found.image_level.fired, found.image_level.cells) == (2, cells)
    assert found.lines()[1].endswith(f"run-level test: 1 of {cells} cells ({1 / cells:.0%}); "
                                     f"image-level test: 2 of {cells} cells ({2 / cells:.0%}).")
    table = controls_table(comparisons[DICE], found)
    assert [row[1] for row in table.cells][:2] == ["Positive control (supervised PT with labels)",
                                                   "Negative control (baseline, new seeds)"]


def test_positive_control_not_detected_is_said_first():
    flat = np.zeros((4, 8))
    rows = pd.concat([four_seed_rows("supervised", "79:1", flat + 0.5, flat),
                      four_seed_rows("control-oracle", "79:1", flat + 0.5, EIGHT_IMAGE_DIFFERENCES - 0.175)])
    found = findings({DICE: compare_methods(rows, DICE, "supervised")}, DICE)
    assert not found.positive.detected
    assert found.lines()[0].startswith("Positive control NOT detected")
    assert found.lines()[1].startswith("No negative control")
    three = findings({DICE: compare_methods(rows[rows["seed"] < 3], DICE, "supervised")}, DICE)
    assert three.positive.testable
    two = findings({DICE: compare_methods(rows[rows["seed"] < 2], DICE, "supervised")}, DICE)
    assert two.lines()[0].startswith("Positive control not judged") and "2 seeds: a difference below" in two.lines()[0]


def test_a_ratio_with_the_baseline_alone_has_no_ranking_and_says_why(controlled_rows):
    rows = controlled_rows[(controlled_rows["method"] == "supervised") | (controlled_rows["ratio"] == "79:1")]
    power = power_table(compare_methods(rows, DICE, "supervised")).data.set_index("ratio")
    assert math.isnan(power.loc["50:30", "run_mdd"]) and power.loc["79:1", "run_mdd"] > 0
    assert power.loc["50:30", "ranking"] == "no ranking: 4 seeds: no method paired with the baseline, so nothing to detect"


# --- confidence intervals of a cell -------------------------------------------------------------------

def test_cell_summary_interval_is_two_level_with_seeds_and_over_images_with_one(table_one_rows):
    summary = cell_summary(table_one_rows, HD).set_index("method")
    # supervised: both seeds HD 4 6 8 10 → seed means agree; within-seed variance 5 / 4 images → SE² = 1.25 / 2
    assert summary.loc["supervised", "ci_kind"] == "two-level bootstrap over 2 seeds × 4 test images"
    half = 12.7062047 * math.sqrt(1.25 / 2)  # 10.05: the lower end, 7 − 10.05, is held to HD ≥ 0
    assert summary.loc["supervised", ["ci_low", "ci_high"]].tolist() == pytest.approx([0.0, 7 + half])
    # CM-UNet, one seed: HD 2 2 3 3, variance .25 / 4 → SE .25, a normal interval over images only
    assert summary.loc["cmunet", "ci_kind"] == "over the 4 test images of 1 trained model only (1 seed)"
    assert summary.loc["cmunet", "ci_high"] == pytest.approx(2.5 + 1.959964 * 0.25)


def two_and_three_seed_rows() -> pd.DataFrame:
    """Dice at two ratios: supervised with seed means .2 and .9 (2 seeds: the t interval on 1 degree of
    freedom is .55 ± 4.4), MAE with 3 seeds near .6."""
    frames = [cell_rows("supervised", ratio, s, [v, v]) for ratio in ("79:1", "50:30") for s, v in ((0, 0.2), (1, 0.9))]
    frames += [cell_rows("mae", ratio, s, [v, v]) for ratio in ("79:1", "50:30") for s, v in ((0, .55), (1, .6), (2, .65))]
    return pd.concat(frames, ignore_index=True)


def test_dice_intervals_stay_inside_zero_and_one():
    summary = cell_summary(two_and_three_seed_rows(), DICE).set_index(["method", "ratio"])
    assert summary.loc[("supervised", "79:1"), ["ci_low", "ci_high"]].tolist() == [0.0, 1.0]
    comparison = compare_methods(two_and_three_seed_rows(), DICE, "supervised").set_index(["ratio", "method"])
    assert comparison.loc[("79:1", "supervised"), ["mean_low", "mean_high"]].tolist() == [0.0, 1.0]
    low, high = comparison.loc[("79:1", "mae"), ["mean_low", "mean_high"]]
    assert 0 < low < 0.6 < high < 1  # a 3-seed interval inside the range is left as it is


def _error_bars(figure) -> dict:
    """label → (x of its points, y-extents of its error bars) in the first panel."""
    drawn = {}
    for container in figure.axes[0].containers:
        line, _, bars = container.lines
        extents = [seg[:, 1] for collection in bars for seg in collection.get_segments()]
        drawn[container.get_label()] = (line.get_xdata(), extents)
    return drawn


def test_curves_set_methods_side_by_side_with_bars_only_where_there_are_seeds_for_one():
    from reports.render.figures import curves_caption, curves_figure
    rows = two_and_three_seed_rows()
    drawn = _error_bars(curves_figure(rows, (DICE,)))
    mae_x, mae_bars = drawn["MAE"]
    base_x, base_bars = drawn["UNet (no PT)"]
    assert len(mae_bars) == 2 and not base_bars  # MAE's 3 seeds get bars; none for the 2-seed baseline
    assert all(0 < bar.min() and bar.max() < 1 for bar in mae_bars)
    assert np.all(np.abs(np.asarray(mae_x) - np.asarray(base_x)) > 0.1)  # apart at every ratio
    assert "Cells with fewer than 3 seeds have no bar" in curves_caption(rows)
    two = rows[rows["seed"] < 2]
    assert not any(bars for _, bars in _error_bars(curves_figure(two, (DICE,))).values())
    assert "No bar is drawn: every cell has 2 seeds" in curves_caption(two)
    assert "no bar" not in curves_caption(rows[rows["method"] == "mae"]).lower()


def test_a_curve_better_with_fewer_labels_is_flagged_on_the_figure_and_in_the_caption():
    from reports.render.figures import RISE_FLAG, curves_caption, curves_figure
    rows = pd.concat([cell_rows("supervised", "79:1", 0, [0.4, 0.5]), cell_rows("supervised", "50:30", 0, [0.7, 0.8]),
                      cell_rows("mae", "79:1", 0, [0.6, 0.7]), cell_rows("mae", "50:30", 0, [0.5, 0.6])])
    figure = curves_figure(rows, (DICE,))
    labels = [t.get_text() for t in figure.legends[0].get_texts()]
    assert labels == ["UNet (no PT)", f"MAE ({RISE_FLAG}!)"]  # MAE's curve, not the baseline's
    assert f"Flagged \"{RISE_FLAG}!\" in the legend: Dice is higher at the smallest share than at the largest for MAE;" in \
        curves_caption(rows)


NINE = ("supervised", "genesis", "mae", "spark", "moco", "cmunet", "vasomim", "control-oracle", "control-null")


def test_the_curves_legend_fits_the_figure_at_nine_methods_and_flags_cover_no_data():
    """Every registered method (labels up to 'Positive control (supervised PT with labels)'): the drawn
    legend lies within the figure's width and below the panels; a flagged curve is named in the
    legend, not written over the lines."""
    from reports.render.figures import RISE_FLAG, curves_figure
    from test_reports import _drawn
    frames = [cell_rows(m, ratio, s, [0.5 + 0.01 * k + (0.2 if ratio == "79:1" and m == "mae" else 0)] * 2)
              for k, m in enumerate(NINE) for ratio in ("79:1", "70:10") for s in range(3)]
    figure = curves_figure(pd.concat(frames, ignore_index=True))
    renderer = _drawn(figure)
    (legend,) = figure.legends
    extent, canvas = legend.get_window_extent(renderer), figure.bbox
    assert canvas.x0 <= extent.x0 and extent.x1 <= canvas.x1, (extent, canvas)
    assert extent.y1 < min(ax.get_window_extent(renderer).y0 for ax in figure.axes)
    assert not any(ax.texts for ax in figure.axes)  # nothing written over the data
    assert [t.get_text() for t in legend.get_texts() if RISE_FLAG in t.get_text()] == [f"MAE ({RISE_FLAG}!: Dice)"]


# --- budget -------------------------------------------------------------------------------------------

def test_budget_table_gives_each_methods_steps_images_lr_time_and_flops():
    jobs = pd.DataFrame([
        {"job_key": "p1", "kind": "pretrain", "method": "mae", "state": "done", "steps": 600, "images_seen": 153_600,
         "lr": 1.5e-4, "wall_time_s": 10.0, "flops": 2.0e15},
        {"job_key": "p2", "kind": "pretrain", "method": "mae", "state": "done", "steps": 900, "images_seen": 230_400,
         "lr": 1.5e-4, "wall_time_s": 14.0, "flops": 3.0e15},
        {"job_key": "p3", "kind": "pretrain", "method": "cmunet", "state": "failed", "steps": None, "images_seen": None,
         "lr": None, "wall_time_s": None, "flops": None},
        {"job_key": "f1", "kind": "finetune", "method": "mae", "state": "done", "steps": 500, "images_seen": None,
         "lr": 1e-3, "wall_time_s": 3.0, "flops": None},
        {"job_key": "f2", "kind": "finetune", "method": "supervised", "state": "done", "steps": 500, "images_seen": None,
         "lr": 1e-4, "wall_time_s": 3.0, "flops": None},
        {"job_key": "f3", "kind": "finetune", "method": "supervised", "state": "done", "steps": 500, "images_seen": None,
         "lr": 1e-3, "wall_time_s": 3.0, "flops": None},
    ])
    table = budget_table(jobs)
    rows = {row[0]: row for row in table.cells}
    assert set(rows) == {"UNet (no PT)", "MAE"}  # CM-UNet has no finished job
    assert rows["MAE"] == ("MAE", "2", "600–900", "153,600–230,400", "0.00015", "10.0–14.0", "2e+15–3e+15", "500", "0.001")
    assert rows["UNet (no PT)"] == ("UNet (no PT)", "—", "—", "—", "—", "—", "—", "500", "0.0001, 0.001")
    data = table.data.set_index("method")
    assert data.loc["mae", "pretrain_wall_time_s_total"] == 24.0 and data.loc["mae", "pretrain_steps_mean"] == 750


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


def test_diameter_figure_carries_a_caveat_when_vessels_are_about_one_pixel_wide():
    from reports.render.figures import diameter_caveat, diameter_figure
    rows = pd.DataFrame({"method": "cmunet", "ratio": "79:1", "seed": 0, "image_id": [f"i{k}" for k in range(4)],
                         "diameter_gt": [1.0, 1.2, 0.9, 1.1], "diameter_pred": [1.0, 1.0, 2.0, 1.0]})
    caveat = diameter_caveat(rows, 64)
    assert caveat.startswith("Caveat: vessels at 64 px are about 1.1 px wide")  # median of 0.9, 1.0, 1.1, 1.2
    assert diameter_figure(rows, "cmunet", ["79:1"], caveat).get_suptitle() == caveat
    assert diameter_caveat(rows.assign(diameter_gt=[3.0, 4.0, 5.0, 6.0]), 256) is None
    assert diameter_figure(rows, "cmunet", ["79:1"]).get_suptitle() == ""


def test_seed_spread_separates_what_every_method_of_a_seed_shares_by_hand():
    """Three methods × four seeds: each seed moves every method by .00/.04/−.02/−.02 (shared), and
    each method adds ±.01 of its own in a pattern with no seed or method mean. Own = MS residual =
    8 · .01² / 6; shared = the seed means' variance (.0008) less the residual's share of it (MS / 3)."""
    from reports.stats.seedspread import seed_spread
    shared = np.array([0.0, 0.04, -0.02, -0.02])
    own = 0.01 * np.array([[1, -1, 1, -1], [-1, 1, -1, 1], [0, 0, 0, 0]])
    own = own - own.mean(axis=1, keepdims=True) - own.mean(axis=0, keepdims=True) + own.mean()
    frames = [cell_rows(method, "79:1", s, [0.6 + 0.05 * m + shared[s] + own[m, s]] * 2)
              for m, method in enumerate(("supervised", "mae", "cmunet")) for s in range(4)]
    spread = seed_spread(pd.concat(frames, ignore_index=True), "79:1")
    ms_residual = float((own ** 2).sum()) / 6
    assert spread.own_var == pytest.approx(ms_residual)
    assert spread.own_var == pytest.approx(8 * 0.01 ** 2 / 6)
    assert spread.shared_var == pytest.approx(shared.var(ddof=1) - ms_residual / 3)
    assert spread.shared_share == pytest.approx(spread.shared_var / (spread.shared_var + ms_residual))
    assert "which images were labelled (drawn per seed)" in spread.line(per_seed=True)
    assert seed_spread(pd.concat(frames[:4], ignore_index=True), "79:1") is None  # one method: nothing shared
