"""The report's first section: what the run says, in words a reader acts on.

Per ratio: who is ahead and by how much, whether the run can tell (its minimum detectable
difference), and how many seeds would detect a difference of `TARGET_GAP` Dice. Before that, when
the run cannot be a result at all (tiny profile, synthetic images, fewer seeds than a verdict needs,
fine-tuning or validation sets of a handful of images), a plain warning that it is a smoke test.
The bookkeeping (controls, job counts, per-contender tests) follows it in `reports.words.summary`.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as sps

from reports.tables.controls import PositiveControl
from reports.tables.health import pretext_notes
from reports.stats.hierarchical import SignificanceSettings
from reports.stats.manytoone import seeds_for
from reports.labels import baseline, method_label, order_methods, order_ratios
from reports.read.contents import RunContents
from reports.stats.significance import paired_seeds
from reports.tables.study import mdd_text

#: The Dice difference a reader would call worth having; the run says how many seeds detect it.
TARGET_GAP = 0.05
#: Fewer fine-tuning or validation images than this make a model's score mostly luck.
FEWEST_IMAGES = 5


def count(n: int, noun: str) -> str:
    """'1 image', '3 images'."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


@dataclass(frozen=True)
class Answer:
    """The first section: why the run is only a smoke test (empty for a real one), or, when a
    detected positive control vouches for a run on small sets, that control's line and the
    small sets as a caveat; then one paragraph per ratio, smallest fine-tuning share first, then
    one sentence per contender whose pretext did not learn and one per contender whose weights were
    pre-trained outside the run."""

    smoke: tuple[str, ...]
    ratios: tuple[str, ...]
    control: str | None = None  # the positive control's line, first when it earns the run a verdict
    caveats: tuple[str, ...] = ()  # small fine-tuning or validation sets, under a detected control
    imported: tuple[str, ...] = ()
    untested: tuple[str, ...] = ()  # contenders whose pretext did not learn (reports.tables.health)
    resolution: str | None = None  # whether the run resolves TARGET_GAP at the smallest share

    def warning(self) -> str | None:
        """The paragraph shown before the per-ratio answer (smoke test, or caveat), if any."""
        if self.smoke:
            return ("Smoke test, not a result: this run shows that the pipeline works, not which method is "
                    "better (" + "; ".join(self.smoke) + ").")
        if self.caveats:
            return ("Caveat: " + "; ".join(self.caveats) + ". Single models trained and chosen on so few "
                    "images vary widely between seeds; the detected positive control shows the run still "
                    "sees a transfer effect of its size.")
        return None

    def opening(self) -> list[str]:
        """What comes before the per-ratio paragraphs."""
        first = (self.warning(), self.resolution) if self.smoke else (self.control, self.resolution, self.warning())
        return [line for line in first if line]

    def paragraphs(self) -> list[str]:
        return list(self.ratios) + list(self.untested) + list(self.imported)

    def lines(self) -> list[str]:
        return self.opening() + self.paragraphs()


def _config(contents: RunContents) -> dict:
    try:
        return tomllib.loads(contents.config_text)
    except tomllib.TOMLDecodeError:  # read_run has already said so; the answer only loses its warnings
        return {}


def tiny_sets(contents: RunContents, ratios: list[str], protocol: str) -> list[str]:
    """'at 79:1 each model was fine-tuned on 1 image and its learning rate chosen on 1 validation image'."""
    found = []
    for ratio in ratios:
        sizes = contents.dataset.split_sizes.get(ratio)
        if not sizes:
            continue
        train, val = sizes.get("fine-tune train", 0), sizes.get("fine-tune validation", 0)
        if train >= FEWEST_IMAGES and val >= FEWEST_IMAGES:
            continue
        chosen = "its learning rate chosen on" if protocol == "fair" else "validated on"
        found.append(f"at {ratio} each model was fine-tuned on {count(train, 'image')} and {chosen} "
                     f"{count(val, 'validation image')}")
    return found


def small_set_warnings(contents: RunContents) -> list[str]:
    """tiny_sets at the ratios that have rows, under the run's protocol."""
    rows = contents.rows
    ratios = order_ratios(rows["ratio"]) if not rows.empty else list(contents.grid.ratios)
    return tiny_sets(contents, ratios, str(_config(contents).get("protocol", "fair")))


def smoke_reasons(contents: RunContents, settings: SignificanceSettings) -> list[str]:
    """Why this run cannot answer the study's question whatever its controls say, one clause each."""
    config = _config(contents)
    reasons = []
    if config.get("profile") == "tiny":
        reasons.append("tiny profile: a narrow UNet on small images, trained for a few steps")
    if str(config.get("data", {}).get("source", "")) == "synthetic":
        reasons.append("synthetic images, not angiograms")
    rows = contents.rows
    seeds = int(rows["seed"].nunique()) if not rows.empty else len(contents.grid.seeds)
    if seeds < settings.min_seeds:
        reasons.append(f"{count(seeds, 'seed')}, where a verdict needs at least {settings.min_seeds}")
    return reasons


def _lead(ranked: pd.DataFrame, ratio: str) -> str:
    """'At 79:1, MAE is ahead: +0.010 Dice over UNet (no PT), 0.004 above CM-UNet.'"""
    leader, runner_up = ranked.iloc[0], ranked.iloc[1]
    name = method_label(leader["method"])
    if leader["method"] == baseline():
        return (f"At {ratio}, {name} (no pre-training) is ahead, {leader['mean'] - runner_up['mean']:.3f} Dice above "
                f"the best pre-trained method, {method_label(runner_up['method'])}.")
    over = ranked[ranked["method"] == baseline()]
    text = f"At {ratio}, {name} is ahead"
    if not over.empty:
        text += f": {leader['mean'] - float(over['mean'].iloc[0]):+.3f} Dice over {method_label(baseline())}"
    if runner_up["method"] != baseline():
        text += f", {leader['mean'] - runner_up['mean']:.3f} above {method_label(runner_up['method'])}"
    return text + "."


def _can_tell(block: pd.DataFrame, seeds: int, settings: SignificanceSettings) -> str:
    """Whether the run can tell the gaps apart: the verdicts where it has them, else its limit."""
    if seeds < 2:
        return ("With 1 seed the run cannot tell: how much two trainings of one method differ is unknown, so no "
                "gap can be called real.")
    called = block[block["verdict"].isin(["better", "worse"]) & (block["role"] == "contender")]
    if not called.empty:
        return "The run can tell: " + ", ".join(
            f"{method_label(m)} is significantly {v} than {method_label(baseline())}"
            for m, v in zip(called["method"], called["verdict"])) + " (run-level many-to-one test, family-wise)."
    mdd = float(block["run_mdd"].iloc[0])
    limit = f"with {count(seeds, 'seed')} it detects only differences of about {mdd:.3f} Dice or more"
    if seeds < settings.min_seeds:
        return f"The run cannot tell: {limit}, and it gives no verdict below {settings.min_seeds} seeds."
    return f"The run cannot tell: no method differs detectably from {method_label(baseline())}; {limit}."


def contender_spread(block: pd.DataFrame) -> tuple[float, float, float, int] | None:
    """The contenders' spread as the family test saw it: the median variance of a per-seed difference
    (the seed term, guard included), the median image term, the pooled spread's degrees of freedom and
    the family's size; None without a contender paired on 2 seeds or more."""
    family = block[(block["role"] == "contender") & block["df"].notna()]
    if family.empty:
        return None
    se2 = family["se"].to_numpy(dtype=float) ** 2
    image = family["image_share"].to_numpy(dtype=float) * se2
    seed_var = (se2 - image) * family["pair_seeds"].to_numpy(dtype=float)
    return (float(np.median(seed_var)), float(np.median(image)), float(family["df"].max()),
            int(family["family_size"].max()))


def seeds_needed_range(block: pd.DataFrame, settings: SignificanceSettings,
                       target: float = TARGET_GAP) -> tuple[int | None, int | None, int | None] | None:
    """How many seeds would bring the contenders' MDD to `target`, at the measured spread and at the two
    ends of its 95 % interval (fewest, most); None where nothing is measured."""
    spread = contender_spread(block)
    if spread is None:
        return None
    seed_var, image, df, family = spread
    ends = (seed_var, seed_var * df / sps.chi2.ppf(0.975, df), seed_var * df / sps.chi2.ppf(0.025, df))
    return tuple(seeds_for(target, v, image, family, settings.alpha, settings.power) for v in ends)


def _seeds_text(needed: tuple[int | None, int | None, int | None]) -> str:
    middle, fewest, most = (MISSING_SEEDS if n is None else str(n) for n in needed)
    return middle if fewest == most else f"{middle} ({fewest}–{most})"


#: How a seed count beyond the search is written.
MISSING_SEEDS = "over 100"


def _seeds_for_target(block: pd.DataFrame, seeds: int, settings: SignificanceSettings) -> str:
    needed = seeds_needed_range(block, settings) if seeds >= 2 else None
    if needed is None:
        return (f"Run at least {settings.min_seeds} seeds to learn how many would detect a {TARGET_GAP:g} Dice "
                "difference.")
    mdd = float(block["run_mdd"].iloc[0])
    if math.isfinite(mdd) and mdd <= TARGET_GAP:
        return f"Its {count(seeds, 'seed')} already detect a {TARGET_GAP:g} Dice difference."
    if needed[0] is None:
        return (f"Even 100 seeds would not detect a {TARGET_GAP:g} Dice difference at this spread between "
                "trainings.")
    return (f"About {_seeds_text(needed)} seeds would detect a {TARGET_GAP:g} Dice difference (this run: {seeds}; "
            "the range is what the spread's 95 % interval allows).")


def resolution_line(comparison: pd.DataFrame | None, settings: SignificanceSettings = SignificanceSettings(),
                    target: float = TARGET_GAP) -> str | None:
    """Whether the run resolves `target` Dice between a contender and the baseline at the smallest
    fine-tuning share: its contenders' MDD (median, with its range) against the target."""
    if comparison is None or comparison.empty:
        return None
    ratio = order_ratios(comparison["ratio"])[0]
    block = comparison[comparison["ratio"] == ratio]
    mdd = float(block["run_mdd"].iloc[0])
    if not math.isfinite(mdd):
        return None
    shown = mdd_text(mdd, float(block["run_mdd_low"].iloc[0]), float(block["run_mdd_high"].iloc[0]))
    if mdd <= target:
        return (f"Resolves {target:g} Dice: at {ratio} a contender {target:g} Dice from the baseline is detected "
                f"with {settings.power * 100:.0f} % power (MDD {shown}, {count(paired_seeds(block), 'seed')}).")
    needed = seeds_needed_range(block, settings, target)
    more = f"; about {_seeds_text(needed)} seeds would" if needed and needed[0] is not None else ""
    return (f"Does not resolve {target:g} Dice: at {ratio} it detects only differences of {shown} or more "
            f"({count(paired_seeds(block), 'seed')}){more}.")


def ratio_answer(block: pd.DataFrame, ratio: str, settings: SignificanceSettings) -> str:
    """One ratio's paragraph: who leads, whether the run can tell, the seeds a 0.05 gap needs."""
    ranked = block[block["role"].isin(["baseline", "contender"])].sort_values("mean", ascending=False)
    if len(ranked) < 2:
        only = ", ".join(method_label(m) for m in ranked["method"]) or "no method"
        return f"At {ratio} only {only} has results: nothing to compare."
    seeds = paired_seeds(block)
    return " ".join([_lead(ranked, ratio), _can_tell(block, seeds, settings),
                     _seeds_for_target(block, seeds, settings)])


#: How many hex digits of an external file's sha256 the report shows (the rows hold all 64).
SHA_SHOWN = 12


def imported_weights_notes(rows: pd.DataFrame) -> list[str]:
    """One sentence per contender whose fine-tuning started from weights made outside the run (rows
    with a `pretrained_sha256`): nothing says which images they were pre-trained on."""
    if rows.empty or "pretrained_sha256" not in rows.columns:
        return []
    external = rows[rows["pretrained_sha256"].fillna("").astype(str) != ""]
    notes = []
    for method in order_methods(external["method"]):
        digests = ", ".join(f"{d[:SHA_SHOWN]}…" for d in sorted(set(external.loc[external["method"] == method,
                                                                                   "pretrained_sha256"])))
        notes.append(f"{method}: imported weights (sha256 {digests}); the images they were pre-trained on are "
                     "unknown to this run — a leak of test images into them cannot be ruled out.")
    return notes


def answer(contents: RunContents, comparison: pd.DataFrame | None,
           settings: SignificanceSettings = SignificanceSettings(),
           positive: PositiveControl | None = None) -> Answer:
    """The first section of the report and of the command line's summary. Small fine-tuning sets
    make a run a smoke test unless its positive control is detected on real data with enough seeds:
    then the control's line comes first and the small sets are a caveat."""
    paragraphs = []
    if comparison is not None and not comparison.empty:
        paragraphs = [ratio_answer(comparison[comparison["ratio"] == r], r, settings)
                      for r in order_ratios(comparison["ratio"])]
    hard, small = smoke_reasons(contents, settings), small_set_warnings(contents)
    imported = tuple(imported_weights_notes(contents.rows))
    untested = tuple(pretext_notes(contents.jobs))
    resolution = resolution_line(comparison, settings)
    if positive is not None and positive.detected and not hard:
        return Answer((), tuple(paragraphs), positive.line(), tuple(small), imported, untested, resolution)
    return Answer(tuple(hard + small), tuple(paragraphs), imported=imported, untested=untested, resolution=resolution)
