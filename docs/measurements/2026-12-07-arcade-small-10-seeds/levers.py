"""Each lever's share of the resolution at 79:1 (issue 32 item 6), from the rows of one run: the
contenders' median MDD against the baseline under the report's test before this version (each
contender alone, two-level bootstrap, Student t on S - 1 df, at Holm's level alpha/6) and under the
many-to-one test (reports.stats.manytoone), with the run's first 5 seeds and with all of them.

Run from the repository root:
    python docs/measurements/2026-12-07-arcade-small-10-seeds/levers.py results/arcade-small-v4

levers.txt is its output at commit 0c644d7; the run folder is of that version's format, which later
versions refuse to read, so re-check it at that commit (`git checkout 0c644d7`).
"""

import sys

import numpy as np

from benchmark.run.folder.store import load_results
from reports.stats.hierarchical import detectable_difference, run_level
from benchmark.run.folder.looks import read_looks
from reports.labels import DICE, baseline, drawn_with, is_control
from reports.stats.significance import compare_methods, seed_image_matrix


def holm_era_mdd(rows, ratio: str) -> float:
    """The median contender MDD as the report computed it before the many-to-one test."""
    at = rows[rows["ratio"] == ratio]
    wide = at.groupby(["seed", "image_id", "method"])[DICE.key].mean().unstack("method")
    contenders = [m for m in wide.columns if m != baseline() and not is_control(m)]
    mdds = []
    for method in contenders:
        paired = run_level(seed_image_matrix(wide, method, baseline()))
        mdds.append(float(detectable_difference(paired.se, paired.n_seeds, 0.05 / len(contenders), 0.8)))
    return float(np.median(mdds))


def many_to_one_mdd(rows, ratio: str) -> tuple[float, float, float]:
    block = compare_methods(rows[rows["ratio"] == ratio], DICE, baseline())
    return tuple(float(block[c].iloc[0]) for c in ("run_mdd", "run_mdd_low", "run_mdd_high"))


def main(run_dir: str, ratio: str = "79:1") -> None:
    rows = load_results(run_dir)
    seeds = sorted(int(s) for s in rows["seed"].unique())
    print(f"{run_dir}, contenders' median MDD in Dice at {ratio}")
    for label, part in ((f"first 5 seeds ({seeds[:5]})", rows[rows["seed"].isin(seeds[:5])]),
                        (f"all {len(seeds)} seeds", rows)):
        mdd, low, high = many_to_one_mdd(part, ratio)
        print(f"  {label}: per contender + Holm {holm_era_mdd(part, ratio):.3f}; "
              f"many-to-one {mdd:.3f} ({low:.3f}-{high:.3f})")


if __name__ == "__main__":
    with drawn_with(read_looks(sys.argv[1])):
        main(*sys.argv[1:])
