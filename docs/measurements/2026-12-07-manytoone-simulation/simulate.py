"""The error rates quoted in docs/statistics.md: the many-to-one test (reports.stats.manytoone) on the design
of tests/test_manytoone.py (six contenders and a baseline, 5 seeds, 30 test images), beside the two
tests it replaced or could have been: the pooled spread without the guard, and the nested two-level
test of each contender alone, Holm-corrected (the report's test before).

Run from the repository root: python docs/measurements/2026-12-07-manytoone-simulation/simulate.py
"""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from test_manytoone import simulate  # noqa: E402  (the tests' own design)

from reports.stats.hierarchical import run_level  # noqa: E402
from reports.stats.manytoone import family_statistics, max_abs_t_cdf  # noqa: E402
from reports.stats.significance import holm  # noqa: E402

RUNS = 1000
EFFECT = 0.04
CASES = {
    "equal spreads": ([0.02] * 7, {}),
    "one contender twice as spread": ([0.02, 0.04] + [0.02] * 5, {}),
    "baseline twice as spread": ([0.04] + [0.02] * 6, {}),
    "spreads from half to twice": ([0.02, 0.01, 0.014, 0.02, 0.028, 0.04, 0.024], {}),
    "shared per-image effects dominate": ([0.005] * 7, {"image_effect": 0.03, "noise": 0.01}),
}


def unguarded_fires(family) -> bool:
    """The same test with every contender on the pooled spread (no guard)."""
    seeds = family.n_seeds
    se = np.sqrt(family.pooled_seed_var / seeds + family.image_term)
    loadings = np.sqrt(np.clip(0.5 * family.pooled_seed_var / seeds / se ** 2, 0, 0.5))
    return 1 - max_abs_t_cdf(float(np.abs(family.diff / se).max()), loadings, family.df) < 0.05


def main() -> None:
    print(f"{RUNS} null runs per case; family-wise false-positive rate (any contender called different)")
    print(f"{'case':36s} {'many-to-one':>12s} {'no guard':>9s} {'nested+Holm':>12s}")
    for name, (spreads, design) in CASES.items():
        rng = np.random.default_rng(2026)
        fired = np.zeros(3)
        for _ in range(RUNS):
            differences = simulate(rng, spreads, **design)
            family = family_statistics(differences)
            nested = run_level(np.stack(differences)).p
            fired += [family.smallest_p_family() < 0.05, unguarded_fires(family), (holm(nested) < 0.05).any()]
        rates = fired / RUNS
        print(f"{name:36s} {rates[0]:12.3f} {rates[1]:9.3f} {rates[2]:12.3f}")
    print(f"\npower: the first contender truly better by {EFFECT} (equal spreads), share of {RUNS} runs that call it "
          "better")
    print(f"{'seeds':36s} {'many-to-one':>12s} {'no guard':>9s} {'nested+Holm':>12s}")
    for seeds in (5, 10):
        rng = np.random.default_rng(2027)
        fired = np.zeros(3)
        for _ in range(RUNS):
            differences = simulate(rng, [0.02] * 7, effects=[EFFECT] + [0.0] * 5, seeds=seeds)
            family = family_statistics(differences)
            unguarded = family.pooled_seed_var / family.n_seeds[0] + family.image_term[0]
            nested = run_level(np.stack(differences)).p
            fired += [family.p_family()[0] < 0.05,
                      1 - max_abs_t_cdf(abs(family.diff[0]) / np.sqrt(unguarded), family.loadings, family.df) < 0.05,
                      holm(nested)[0] < 0.05]
        rates = fired / RUNS
        print(f"{seeds:<36d} {rates[0]:12.3f} {rates[1]:9.3f} {rates[2]:12.3f}")


if __name__ == "__main__":
    main()
