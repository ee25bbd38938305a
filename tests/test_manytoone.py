"""The many-to-one test (reports.stats.manytoone): known answers (Dunnett's tables, Student's t, the crossed
decomposition by hand) and simulations of its error rates on the design a run has: six contenders and
a baseline, seeds as blocks (each seed's labelled draw shared by every method), test images crossed
with seeds."""

import math

import numpy as np
import pytest
from scipy import stats

from reports.stats.hierarchical import run_level
from reports.stats.manytoone import (critical_value, crossed_terms, family_mdd, family_statistics, many_to_one,
                               max_abs_t_cdf, pooled_df, seeds_for)

HALF = math.sqrt(0.5)


@pytest.mark.parametrize("family, df, table", [(6, 24, 2.76), (2, 10, 2.57), (3, 10, 2.76), (6, 10, 3.07),
                                                (6, math.inf, 2.56), (1, 10, 2.23)])
def test_equal_spreads_give_dunnetts_two_sided_critical_values(family, df, table):
    """Dunnett (1964), two-sided 5 % table, equal group sizes (ρ = ½)."""
    assert critical_value([HALF] * family, df, 0.05) == pytest.approx(table, abs=0.008)  # table: 2 decimals


@pytest.mark.parametrize("df", [1.5, 3.2, 4.8, 24.0, 1000.0])
def test_one_contrast_is_students_t_at_any_degrees_of_freedom(df):
    for c in (0.5, 2.0, 4.0):
        assert max_abs_t_cdf(c, [0.0], df) == pytest.approx(1 - 2 * stats.t.sf(c, df), abs=1e-6)


def test_independent_contrasts_multiply_and_equicorrelated_normals_match_monte_carlo():
    assert max_abs_t_cdf(2.0, [0.0, 0.0, 0.0], math.inf) == pytest.approx((1 - 2 * stats.norm.sf(2.0)) ** 3)
    rng = np.random.default_rng(0)
    common, own = rng.standard_normal((200_000, 1)), rng.standard_normal((200_000, 4))
    z = HALF * common + HALF * own
    assert max_abs_t_cdf(2.3, [HALF] * 4, math.inf) == pytest.approx((np.abs(z).max(axis=1) <= 2.3).mean(), abs=0.003)


def test_crossed_terms_by_hand():
    """Seeds .2/.1/.2/.2 over images alternating; the image means .15/.2 differ by less than the
    residual allows, so the image term is 0. Adding +.1/−.1 per image to every seed (an effect all
    seeds share) adds exactly .01 · 2 / 2 = .01 to MS images' excess: σ²_image = .01, term .01/4."""
    pattern = np.array([[0.1, 0.3], [0.0, 0.2], [0.2, 0.2], [0.3, 0.1]])
    terms = crossed_terms(np.tile(pattern, (1, 2)))
    assert terms.mean == pytest.approx(0.175) and terms.seed_var == pytest.approx(0.0025) and terms.image_term == 0
    flat = np.full((4, 4), 0.05) + np.array([[0.0], [0.01], [-0.01], [0.0]])
    shared = flat + np.array([0.1, -0.1, 0.1, -0.1])  # no residual: the image effect is measured exactly
    assert crossed_terms(shared).image_term == pytest.approx(((0.1 ** 2) * 4 / 3) / 4)


def test_one_contender_is_the_crossed_paired_t_test():
    rng = np.random.default_rng(1)
    d = rng.normal(0.02, 0.03, size=(5, 1)) + rng.normal(0, 0.1, size=(5, 40))
    test = many_to_one([d])
    terms = crossed_terms(d)
    se = math.sqrt(terms.seed_var / 5 + terms.image_term)
    assert test.df == 4 and test.se[0] == pytest.approx(se)
    assert test.p_family[0] == pytest.approx(2 * stats.t.sf(abs(d.mean()) / se, 4))
    assert test.critical == pytest.approx(stats.t.ppf(0.975, 4))


def test_a_quiet_contender_takes_the_pooled_spread_and_a_noisy_one_keeps_its_own():
    base = np.array([[0.0], [0.02], [-0.02], [0.01], [-0.01]])
    quiet, noisy = np.tile(base, (1, 3)), np.tile(4 * base, (1, 3))
    family = family_statistics([quiet, noisy])
    pooled = (base.var(ddof=1) + 16 * base.var(ddof=1)) / 2
    assert family.pooled_seed_var == pytest.approx(pooled)
    assert family.se.tolist() == pytest.approx([math.sqrt(pooled / 5), math.sqrt(16 * base.var(ddof=1) / 5)])
    assert family.df == pytest.approx(pooled_df([5, 5])) == pytest.approx(8 / 1.25)


# --- simulations -----------------------------------------------------------------------------------

CONTENDERS, SEEDS, IMAGES = 6, 5, 30


def simulate(rng, spreads, effects=None, image_effect=0.0, seeds=SEEDS, noise=0.05):
    """One run's differences to the baseline: `spreads[0]` the baseline's seed-to-seed SD, the rest
    the contenders'; every seed shares a labelled-draw effect (SD .03, cancels in the differences);
    `image_effect`: SD of each contender's own per-image effect, the same for every seed (crossed)."""
    spreads = np.asarray(spreads, dtype=float)
    methods = len(spreads)
    difficulty = rng.normal(0.6, 0.1, size=(1, 1, IMAGES))
    draw = rng.normal(0, 0.03, size=(1, seeds, 1))
    per_image = rng.normal(0, image_effect, size=(methods, 1, IMAGES)) if image_effect else 0.0
    values = (difficulty + draw + spreads[:, None, None] * rng.standard_normal((methods, seeds, 1)) + per_image
              + rng.normal(0, noise, size=(methods, seeds, IMAGES)))
    differences = values[1:] - values[:1]
    if effects is not None:
        differences = differences + np.asarray(effects, dtype=float)[:, None, None]
    return list(differences)


def family_error(spreads, runs=500, seed=7, **design):
    """How often any contender is called different when none is."""
    rng = np.random.default_rng(seed)
    return float(np.mean([family_statistics(simulate(rng, spreads, **design)).smallest_p_family() < 0.05
                          for _ in range(runs)]))


@pytest.mark.parametrize("case, spreads", [
    ("equal", [0.02] * 7),
    ("one contender twice as spread", [0.02, 0.04] + [0.02] * 5),
    ("baseline twice as spread", [0.04] + [0.02] * 6),
    ("spreads from half to twice", [0.02, 0.01, 0.014, 0.02, 0.028, 0.04, 0.024]),
])
def test_family_wise_false_positives_stay_at_most_five_percent(case, spreads):
    """500 null runs each (SD of a rate near 5 %: 1 point). Without the guard that keeps a noisy
    contender's own spread, pooling gave 6.7–7.2 % in the unequal cases."""
    assert family_error(spreads) <= 0.06, case


def test_shared_per_image_effects_are_not_mistaken_for_a_method_effect():
    """Each contender is better on some test images and worse on others, the same for every seed (SD
    .03 per image, mean 0 over the image population), and seeds and the rest of the per-image noise vary
    little: the crossed image term keeps the family-wise rate at 5 %, where the nested two-level test
    of one contender alone (which divides the image term by the seeds) fires on far more runs."""
    design = {"image_effect": 0.03, "noise": 0.01}
    spreads = [0.005] * 7
    assert family_error(spreads, **design) <= 0.06
    rng = np.random.default_rng(9)
    nested = [run_level(simulate(rng, spreads, **design)[0]).p < 0.05 for _ in range(300)]
    assert np.mean(nested) >= 0.10


@pytest.mark.parametrize("seeds", [5, 10])
def test_a_contender_better_by_its_mdd_is_detected_with_the_stated_power(seeds):
    """The first contender truly better by the MDD the report prints (its median over 100 null runs):
    called better in about 80 % of 400 runs (± 5 SD). The printed MDD is close to the one the true
    spreads give (the guard makes it a little larger)."""
    rng = np.random.default_rng(seeds)
    mdd = float(np.median([many_to_one(simulate(rng, [0.02] * 7, seeds=seeds)).mdd[0] for _ in range(100)]))
    seed_sd = math.sqrt(2 * 0.02 ** 2 + 2 * 0.05 ** 2 / IMAGES)  # a per-seed difference's SD
    assert mdd == pytest.approx(family_mdd(seed_sd ** 2, 0.0, seeds, CONTENDERS), rel=0.15)
    fired = [family_statistics(simulate(rng, [0.02] * 7, effects=[mdd] + [0.0] * 5, seeds=seeds)).p_family()[0] < 0.05
             for _ in range(400)]
    assert 0.70 <= np.mean(fired) <= 0.90


def test_seeds_for_is_the_first_seed_count_whose_family_mdd_reaches_the_target():
    needed = seeds_for(0.05, 0.002, 0.0, 6)
    assert needed is not None and family_mdd(0.002, 0.0, needed, 6) <= 0.05 < family_mdd(0.002, 0.0, needed - 1, 6)
    assert seeds_for(10.0, 0.002, 0.0, 6) == 2
    assert seeds_for(0.05, 5.0, 0.0, 6) is None  # beyond 100 seeds
    assert seeds_for(0.05, 0.002, 0.01, 6) is None  # the image term alone (SE .1) keeps it above
