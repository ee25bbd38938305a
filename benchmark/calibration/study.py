"""The calibration study: one run per setting (supervised and the positive control, the same splits
and seeds), and per setting what the benchmark can see at that budget.

For each setting the table gives the positive control's paired Dice gain over the baseline at the
smallest fine-tuning share with its run-level 95 % CI, p and MDD (the report's own test:
`reports.stats.significance`), the baseline's label curve (its Dice at the largest share minus at the
smallest, paired over seeds and images, with its CI), and the CPU time the run's jobs took. A
setting *sees* when the control is detected (p < 0.05, at least 3 seeds) and the label curve rises
by more than the contenders' MDD: more labels must help the baseline by more than the smallest
difference a contender could be called different by, at the family-wise level its verdict uses
(`reports.stats.manytoone.family_mdd`: a family of as many contenders as the registry has, each as spread
between seeds as the control), or that resolution is not enough for the question.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from benchmark.calibration.settings import CalibrationSetting
from benchmark.config.run_config import RunConfig, build_config
from benchmark.core.dataclass_io import to_plain
from benchmark.core.errors import BenchmarkError
from benchmark.run.execute.runner import run_benchmark
from benchmark.run.folder.store import RunStore, load_results
from benchmark.config.options import ExecutorConfig
from methods import registry
from reports.stats.hierarchical import SignificanceSettings
from benchmark.run.folder.looks import looks_of
from reports.labels import DICE, drawn_with, order_ratios
from reports.stats.manytoone import FamilyTest, family_mdd, many_to_one
from reports.stats.significance import compare_methods
from reports.tables.table_format import Table, write_table
from reports.tables.study import MISSING, interval, p_text, signed



def calibration_methods() -> tuple[str, str]:
    """The registry's baseline and positive control, by the roles their files declare."""
    named = {cls.role: name for name, cls in registry().items()}
    return named["baseline"], named["positive-control"]


@dataclass(frozen=True)
class SettingResult:
    """What one setting's run can see."""

    setting: str
    values: dict[str, object]  # what it trained with (CalibrationSetting.describe)
    small: str  # the smallest fine-tuning share's ratio label
    large: str
    n_seeds: int
    n_test: int
    gain: float  # positive control − baseline at `small`
    gain_low: float
    gain_high: float
    p: float
    mdd: float
    detected: bool
    baseline_small: float
    baseline_large: float
    curve: float  # baseline at `large` − at `small`
    curve_low: float
    curve_high: float
    job_cpu_s: float  # the jobs' own time (each job one thread), data preparation not counted
    wall_s: float  # this run's wall time as recorded (0 when it was already done)
    contender_mdd: float = math.nan  # a contender's MDD in a family of `family`, at the control's spread
    family: int = 0

    @property
    def curve_exceeds_mdd(self) -> bool:
        return not math.isnan(self.contender_mdd) and self.curve > self.contender_mdd

    @property
    def sees(self) -> bool:
        return self.detected and self.curve_exceeds_mdd


def calibration_run_config(base: RunConfig, setting: CalibrationSetting, test_split: str = "apart") -> RunConfig:
    """`base` restricted to the baseline and the positive control, with its test split drawn as
    `test_split` says ("apart": none of the images a run of the same data tests on, so a budget is
    never chosen on the answer's test images; "random": the seeded 20 % split; "dataset": the
    source's own), under `setting`."""
    table = to_plain(base)
    table.pop("method_settings", None)  # RunConfig's field for the TOML's [method.NAME] tables
    table.update(methods=list(calibration_methods()), pretrain={}, method={})
    table["data"] = {**table["data"], "test_split": test_split}
    config = build_config(table, "calibration")
    if len(config.ratios) < 2:
        raise BenchmarkError("--ratios: calibration needs two ratios (the smallest FT share and a larger one)")
    return dataclasses.replace(setting.apply(config), methods=calibration_methods())


def job_cpu_seconds(run_dir: Path) -> float:
    """Sum of every finished job's recorded wall time: CPU-seconds, each job running on one thread."""
    store = RunStore(run_dir)
    statuses = (store.read_status(k) for k in store.job_keys())
    return float(sum(s.wall_time_s or 0.0 for s in statuses if s.state == "done"))


def _curve(rows: pd.DataFrame, small: str, large: str, settings: SignificanceSettings) -> FamilyTest | None:
    """The baseline at `large` minus at `small`, paired per (seed, test image), images crossed."""
    mine = rows[rows["method"] == calibration_methods()[0]]
    wide = mine.pivot_table(index=["seed", "image_id"], columns="ratio", values=DICE.key, aggfunc="mean")
    if small not in wide or large not in wide:
        return None
    matrix = (wide[large] - wide[small]).dropna().unstack("image_id").dropna(axis=1)
    if matrix.shape[0] < 2 or not matrix.size:
        return None
    return many_to_one([matrix.to_numpy(dtype=float)], settings.alpha, settings.power)


def registry_contenders() -> int:
    """How many contenders a default run races: the registry's methods less the baseline and controls."""
    return sum(cls.role == "contender" for cls in registry().values())


def _contender_mdd(control: pd.Series, family: int, settings: SignificanceSettings) -> float:
    """The MDD a contender would have in a family of `family`, each as spread as the control."""
    if math.isnan(control["se"]) or math.isnan(control["df"]):
        return math.nan
    seeds = int(control["pair_seeds"])
    image = float(control["image_share"]) * float(control["se"]) ** 2
    seed_var = (float(control["se"]) ** 2 - image) * seeds
    return family_mdd(seed_var, image, seeds, family, settings.alpha, settings.power)


def summarise(run_dir: Path, setting: CalibrationSetting, config: RunConfig, wall_s: float = 0.0,
              settings: SignificanceSettings = SignificanceSettings()) -> SettingResult:
    """The calibration figures of one finished (or partly finished) setting's run."""
    rows = load_results(run_dir)
    baseline, control = calibration_methods()
    if rows.empty or not {baseline, control} <= set(rows["method"]):
        raise BenchmarkError(f"{run_dir}: no finished fine-tune jobs of both {baseline} and {control}")
    return summarise_rows(rows, setting.name, setting.describe(config), job_cpu_seconds(run_dir), wall_s, settings)


def summarise_rows(rows: pd.DataFrame, name: str, values: dict[str, object], job_cpu_s: float = 0.0,
                   wall_s: float = 0.0, settings: SignificanceSettings = SignificanceSettings(),
                   family: int | None = None) -> SettingResult:
    """The calibration figures of one setting's result rows (baseline and positive control); `family`:
    the contenders a run would race (default: the registry's)."""
    family = registry_contenders() if family is None else family
    baseline, control_name = calibration_methods()
    ratios = order_ratios(rows["ratio"])
    small, large = ratios[0], ratios[-1]
    with drawn_with(looks_of(registry())):  # the controls' roles, as a run folder would give them
        comparison = compare_methods(rows, DICE, baseline, settings).set_index(["ratio", "method"])
    control = comparison.loc[(small, control_name)]
    means = rows.groupby(["method", "ratio", "seed"])[DICE.key].mean().groupby(["method", "ratio"]).mean()
    curve = _curve(rows, small, large, settings)
    nan = float("nan")
    return SettingResult(
        name, values, small, large, int(control["pair_seeds"]),
        int(control["n_images"]), float(control["diff"]), float(control["diff_low"]), float(control["diff_high"]),
        float(control["p_seeds"]), float(control["mdd"]), control["verdict"] == "better",
        float(means.get((baseline, small), nan)), float(means.get((baseline, large), nan)),
        float(curve.diff[0]) if curve else nan, float(curve.low[0]) if curve else nan,
        float(curve.high[0]) if curve else nan, job_cpu_s, wall_s, _contender_mdd(control, family, settings), family)


def run_calibration(base: RunConfig, grid: tuple[CalibrationSetting, ...], out: Path,
                    executor: ExecutorConfig = ExecutorConfig(), test_split: str = "apart",
                    on_setting: Callable[[CalibrationSetting, int, int], None] | None = None,
                    progress_for: Callable[[CalibrationSetting], object] | None = None) -> list[SettingResult]:
    """Run every setting of `grid` in `out/<name>/` (resumable, like any run) and summarise each."""
    results = []
    for n, setting in enumerate(grid):
        config = calibration_run_config(base, setting, test_split)
        if on_setting:
            on_setting(setting, n, len(grid))
        outcome = run_benchmark(config, out / setting.name, executor,
                                progress=progress_for(setting) if progress_for else None)
        if outcome.summary.failed:
            error = outcome.store.read_status(outcome.summary.failed[0]).error or "unknown error"
            raise BenchmarkError(f"calibration setting {setting.name}: {len(outcome.summary.failed)} job(s) failed "
                                 f"({error}); see {out / setting.name}")
        ran = bool(outcome.summary.done)
        results.append(summarise(out / setting.name, setting, config, outcome.wall_time_s if ran else 0.0))
    return results


COLUMNS = ("Setting", "PT steps", "PT lr (control)", "FT steps", "FT lr grid", "Size", "Base", "Seeds",
           "Control − baseline at smallest share [95 % CI]", "p", "Control MDD", "Detected",
           "Baseline: smallest → largest", "Label curve gain [95 % CI]", "Contenders' MDD", "Curve > contenders' MDD",
           "Job CPU time (s)")


def calibration_table(results: list[SettingResult], cpu: str = "") -> Table:
    """The study's table: one line per setting."""
    cells, bold, records = [], set(), []
    for r, result in enumerate(results):
        v = result.values
        grid = ", ".join(f"{lr:g}" for lr in v["finetune_lr_grid"]) or MISSING
        cells.append((
            result.setting, str(v["pretrain_steps"]), f"{v['pretrain_lr']:g}", str(v["finetune_steps"]), grid,
            str(v["size"]), str(v["base"]), str(result.n_seeds),
            f"{signed(result.gain, 3)} {interval(result.gain_low, result.gain_high, 3, sign=True)} at {result.small}",
            p_text(result.p), MISSING if math.isnan(result.mdd) else f"{result.mdd:.3f}",
            "yes" if result.detected else "no",
            f"{result.baseline_small:.3f} → {result.baseline_large:.3f} ({result.large})",
            f"{signed(result.curve, 3)} {interval(result.curve_low, result.curve_high, 3, sign=True)}",
            MISSING if math.isnan(result.contender_mdd) else f"{result.contender_mdd:.3f} ({result.family})",
            "yes" if result.curve_exceeds_mdd else "no", f"{result.job_cpu_s:.0f}"))
        if result.sees:
            bold.add((r, 0))
        records.append({"setting": result.setting, **{k: (", ".join(map(str, x)) if isinstance(x, tuple) else x)
                                                       for k, x in v.items()},
                        "small": result.small, "large": result.large, "n_seeds": result.n_seeds,
                        "n_test": result.n_test, "gain": result.gain, "gain_low": result.gain_low,
                        "gain_high": result.gain_high, "p": result.p, "mdd": result.mdd, "detected": result.detected,
                        "baseline_small": result.baseline_small, "baseline_large": result.baseline_large,
                        "curve": result.curve, "curve_low": result.curve_low, "curve_high": result.curve_high,
                        "contender_mdd": result.contender_mdd, "family": result.family,
                        "curve_exceeds_mdd": result.curve_exceeds_mdd, "sees": result.sees,
                        "job_cpu_s": result.job_cpu_s, "wall_s": result.wall_s})
    baseline, control = calibration_methods()
    notes = (
        f"Control: {control} (supervised pre-training on the pre-training set's labels); baseline: "
        f"{baseline}. Difference paired per (seed, test image), run-level test with test images crossed with "
        "seeds (reports.stats.manytoone), uncorrected; control MDD: the true difference detected with 80 % power at "
        "level 0.05.",
        "Label curve: the baseline's Dice at the largest fine-tuning share minus at the smallest, paired per (seed, "
        "test image). Contenders' MDD: what a contender would need to be called different, in a family of as many "
        "contenders as in brackets, each as spread between seeds as the control. A setting in bold sees: the "
        "control is detected and the label curve exceeds the contenders' MDD.",
        "PT lr: the fair lr rule's rate for the control (and MAE); every method's rate keeps its paper ratio to it. "
        "Job CPU time: the sum of the jobs' recorded times, one thread each" + (f", on {cpu}" if cpu else "") + ".",
    )
    return Table("calibration", "Calibration: can the set-up detect the positive control?", COLUMNS,
                 tuple(cells), frozenset(bold), notes, pd.DataFrame(records))


def write_calibration(results: list[SettingResult], out: Path, cpu: str = "") -> tuple[Table, list[Path]]:
    """The table, written as `out/calibration.{md,tex,csv}`."""
    table = calibration_table(results, cpu)
    return table, write_table(table, out)
