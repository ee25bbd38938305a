"""The controls' verdicts, reported apart from the contenders and before anything else.

- Positive control (`control-oracle`, supervised pre-training with the PT set's labels): it must be
  significantly better than the baseline at the smallest fine-tuning share; if it is not, this run's
  set-up cannot detect transfer, and every "no difference" below means little.
- Negative control (`control-null`, the baseline under an independent seed stream, true difference
  zero): how often a test calls it different from the baseline is that test's false-positive rate.
  The cells are ratio × metric (the metrics of Table I that the rows have; they are correlated, so
  the cells are not independent trials), under the run-level test and under the image-level one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from reports.stats.hierarchical import SignificanceSettings, detectable_text
from reports.labels import Metric, method_label, order_ratios, with_role
from reports.stats.significance import IMAGE_TEST_NAME
from reports.tables.table_format import Table
from reports.tables.study import MISSING, interval, p_text, signed


@dataclass(frozen=True)
class PositiveControl:
    """The positive control at the smallest fine-tuning share it was run at."""

    ratio: str
    diff: float
    low: float
    high: float
    n_seeds: int
    mdd: float
    testable: bool
    detected: bool

    def line(self) -> str:
        label = method_label(with_role("positive-control") or "")
        numbers = f"Δ Dice {signed(self.diff, 3)} {interval(self.low, self.high, 3, sign=True)} at {self.ratio}"
        if not self.testable:
            return (f"Positive control not judged: {label} {numbers}; "
                    f"{detectable_text(self.n_seeds, self.mdd)}.")
        if self.detected:
            return f"Positive control detected: {label} is significantly better than the baseline ({numbers})."
        return (f"Positive control NOT detected: {label} is not significantly better than the baseline "
                f"({numbers}); this run's set-up cannot detect transfer, so its other verdicts mean little.")


@dataclass(frozen=True)
class FalsePositives:
    """How often one test called the negative control different from the baseline."""

    test: str
    fired: int
    cells: int

    @property
    def rate(self) -> float:
        return self.fired / self.cells if self.cells else float("nan")

    def text(self) -> str:
        if not self.cells:
            return f"{self.test}: no cell with enough seeds"
        return f"{self.test}: {self.fired} of {self.cells} cells ({self.rate:.0%})"


@dataclass(frozen=True)
class ControlFindings:
    positive: PositiveControl | None
    run_level: FalsePositives | None  # None without a negative control
    image_level: FalsePositives | None

    def lines(self) -> list[str]:
        """The report's first lines: whether the set-up detects transfer, and the tests' false-positive rates."""
        lines = [self.positive.line() if self.positive else
                 f"No positive control{_named('positive-control')} in this run: whether it could detect transfer "
                 "is unknown."]
        if self.run_level is None or self.image_level is None:
            lines.append(f"No negative control{_named('negative-control')} in this run: the tests' false-positive "
                         "rate is not measured.")
        else:
            lines.append(f"Negative control called different from the baseline (true difference 0, about 5 % "
                         f"expected of a sound test): {self.run_level.text()}; {self.image_level.text()}.")
        return lines


def _named(role: str) -> str:
    """ (name) of the method that has `role` among the run's methods, for a line saying it is absent."""
    name = with_role(role)
    return f" ({name})" if name else ""


def positive_control(comparison: pd.DataFrame) -> PositiveControl | None:
    """The positive control's test at the smallest fine-tuning share where it was paired with the baseline."""
    mine = comparison[(comparison["role"] == "positive control") & comparison["diff"].notna()]
    if mine.empty:
        return None
    test = mine.set_index("ratio").loc[order_ratios(mine["ratio"])[0]]
    return PositiveControl(test.name, float(test["diff"]), float(test["diff_low"]), float(test["diff_high"]),
                           int(test["pair_seeds"]), float(test["mdd"]), bool(test["testable"]),
                           test["verdict"] == "better")


def false_positives(comparisons: dict[Metric, pd.DataFrame], alpha: float) -> tuple[FalsePositives, FalsePositives] | None:
    """The negative control's false positives over ratio × metric cells, run-level and image-level."""
    tests = [c[(c["role"] == "negative control") & c["diff"].notna()] for c in comparisons.values()]
    tests = pd.concat(tests, ignore_index=True) if tests else pd.DataFrame()
    if tests.empty:
        return None
    # Both rates over the same cells (those with seeds enough for a verdict), so they compare.
    testable = tests[tests["testable"]]
    images = testable[testable["p_images"].notna()]
    return (FalsePositives("run-level test", int(testable["significant"].sum()), len(testable)),
            FalsePositives("image-level test", int((images["p_images"] < alpha).sum()), len(images)))


def findings(comparisons: dict[Metric, pd.DataFrame], primary: Metric,
             settings: SignificanceSettings = SignificanceSettings()) -> ControlFindings:
    rates = false_positives(comparisons, settings.alpha)
    return ControlFindings(positive_control(comparisons[primary]), *(rates or (None, None)))


def controls_table(comparison: pd.DataFrame, found: ControlFindings) -> Table | None:
    """Per ratio and control: its paired Dice difference to the baseline, the run-level verdict, and the
    image-level p; None when the run has no control."""
    tests = comparison[comparison["role"].isin(["positive control", "negative control"])]
    if tests.empty:
        return None
    expected = {"positive control": "better (at the smallest FT share)", "negative control": "no difference"}
    cells = tuple(
        (test["ratio"], method_label(test["method"]), expected[test["role"]],
         MISSING if math.isnan(test["diff"]) else
         f"{signed(test['diff'], 3)} {interval(test['diff_low'], test['diff_high'], 3, sign=True)}",
         str(test["pair_seeds"]), p_text(test["p_seeds"]), MISSING if math.isnan(test["mdd"]) else f"{test['mdd']:.3f}",
         test["verdict"], p_text(test["p_images"]))
        for _, test in tests.iterrows())
    notes = tuple(found.lines()) + (
        "Run-level test and MDD as in the significance table (uncorrected: each control is its own question). "
        f"p images: {IMAGE_TEST_NAME}.",)
    columns = ("PT:FT", "Control", "Expected", "Δ Dice vs baseline [95 % CI]", "Seeds", "p", "MDD", "Verdict",
               "p images (given these trained models)")
    keep = ["ratio", "method", "role", "diff", "diff_low", "diff_high", "pair_seeds", "p_seeds", "mdd", "verdict",
            "p_images"]
    return Table("controls", "Controls: positive (must be detected) and negative (must not be)", columns, cells,
                 frozenset(), notes, tests[keep].reset_index(drop=True))
