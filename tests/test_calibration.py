"""The calibration study: a setting changes shared rules for every method alike; its summary on rows
with hand-worked answers; the command on a tiny grid, resumable; bad grids are one-line errors."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import tomli_w
from typer.testing import CliRunner

from benchmark.calibration.settings import DEFAULT_GRID, CalibrationSetting, load_grid, select
from benchmark.calibration.study import calibration_run_config, calibration_table, summarise_rows
from benchmark.cli import app
from benchmark.config.run_config import build_config
from benchmark.core.errors import BenchmarkError
from conftest import TINY_TABLE
from test_report_stats import cell_rows, nct_factor


def test_a_setting_gives_every_pretraining_method_the_same_budget_and_lr_rule():
    config = build_config({"profile": "tiny", "methods": ["supervised", "control-oracle", "mae", "spark"]})
    changed = CalibrationSetting("s", pretrain_steps=200, pretrain_lr=1e-2, finetune_steps=120,
                                 finetune_lr_grid=(1e-3, 3e-3), size=96, base=16).apply(config)
    for name in ("control-oracle", "mae", "spark"):
        assert (changed.pretrain[name].steps, changed.pretrain[name].warmup_steps) == (200, 27)  # 40/300 of 200
        assert changed.pretrain[name].batch_size == config.pretrain[name].batch_size
    # MAE and the control (both at MAE's base rate 1.5e-4) get the reference rate; SparK its paper ratio 2/1.5
    assert changed.pretrain["mae"].lr == pytest.approx(1e-2) and changed.pretrain["control-oracle"].lr == pytest.approx(1e-2)
    assert changed.pretrain["spark"].lr == pytest.approx(1e-2 * 2e-4 / 1.5e-4)
    assert changed.pretrain["spark"].crop_scale == config.pretrain["spark"].crop_scale
    assert (changed.finetune.steps, changed.finetune.lr_grid) == (120, (1e-3, 3e-3))
    assert (changed.preprocess.size, changed.unet.base) == (96, 16)
    # an empty setting is the profile itself
    assert CalibrationSetting("tiny").apply(config) == config


def test_calibration_runs_only_the_baseline_and_the_positive_control_apart_from_the_answers_test_images():
    base = build_config({"profile": "tiny", "ratios": ["79:1", "70:10"], "seeds": [0, 1, 2]})
    config = calibration_run_config(base, CalibrationSetting("s", pretrain_steps=7))
    assert config.methods == ("supervised", "control-oracle") and set(config.pretrain) == {"control-oracle"}
    assert config.pretrain["control-oracle"].steps == 7 and config.data.test_split == "apart"
    with pytest.raises(BenchmarkError, match="two ratios"):
        calibration_run_config(build_config({"profile": "tiny", "ratios": ["79:1"]}), CalibrationSetting("s"))
    with pytest.raises(BenchmarkError, match="--protocol fair"):
        CalibrationSetting("s").apply(build_config({"profile": "tiny", "protocol": "study"}))


def test_summary_of_rows_with_a_known_answer():
    from reports.stats.manytoone import family_mdd
    """3 seeds × 4 images at 79:1: the control is the baseline + .20/.18/.22 per seed (mean .2, seed-mean
    SD .02, no spread within a seed: SE √(.0004/3)), t = 17.3 on 2 df; the baseline at 70:10 is its 79:1
    value + .1 on every image (curve +.1 exactly)."""
    from scipy.stats import t
    rng = np.random.default_rng(0)
    base = rng.uniform(0.3, 0.5, size=(3, 4))
    frames = []
    for s, shift in enumerate((0.20, 0.18, 0.22)):
        frames += [cell_rows("supervised", "79:1", s, base[s].tolist()),
                   cell_rows("control-oracle", "79:1", s, (base[s] + shift).tolist()),
                   cell_rows("supervised", "70:10", s, (base[s] + 0.1).tolist()),
                   cell_rows("control-oracle", "70:10", s, (base[s] + 0.1).tolist())]
    rows = pd.concat(frames, ignore_index=True)
    result = summarise_rows(rows, "s", {"pretrain_steps": 1, "pretrain_lr": 1e-3, "finetune_steps": 2,
                                        "finetune_lr_grid": (1e-3,), "size": 64, "base": 8}, 12.0)
    se = math.sqrt(0.0004 / 3)
    assert (result.small, result.large, result.n_seeds, result.n_test) == ("79:1", "70:10", 3, 4)
    assert result.gain == pytest.approx(0.2)
    assert (result.gain_low, result.gain_high) == pytest.approx((0.2 - t.ppf(0.975, 2) * se, 0.2 + t.ppf(0.975, 2) * se))
    assert result.p == pytest.approx(2 * t.sf(0.2 / se, 2))
    assert result.mdd == pytest.approx(nct_factor(2, 0.05) * se)  # 0.065: a control, so at level 0.05
    # the curve is judged against a contender's MDD in a family of six as spread as the control (per-seed
    # variance .0004, no image term): the family's critical value, on 12 / 2.25 pooled degrees of freedom
    six = family_mdd(0.0004, 0.0, 3, 6)
    assert result.family == 6 and result.contender_mdd == pytest.approx(six)
    assert family_mdd(0.0004, 0.0, 10, 6) > family_mdd(0.0004, 0.0, 10, 1)  # at equal df, a family costs
    assert result.detected and result.curve == pytest.approx(0.1) and result.curve_exceeds_mdd and result.sees
    # the same control where the curve rises by a little less than that MDD: detected, but it does not see
    flat = rows.assign(dice=np.where(rows["ratio"] == "70:10", rows["dice"] - 0.1 + 0.9 * six, rows["dice"]))
    below = summarise_rows(flat, "s", result.values)
    assert below.curve == pytest.approx(0.9 * six) and below.detected and not below.sees
    assert result.baseline_large - result.baseline_small == pytest.approx(0.1)
    table = calibration_table([result], "Test CPU")
    assert table.bold == frozenset({(0, 0)}) and "Test CPU" in table.notes[-1]
    assert table.cells[0][table.columns.index("Detected")] == "yes"
    # two seeds: no verdict, so not detected whatever the gain
    two = summarise_rows(rows[rows["seed"] < 2], "s", result.values)
    assert not two.detected and not two.sees


def _grid_file(tmp_path, settings):
    path = tmp_path / "grid.toml"
    path.write_text(tomli_w.dumps({"setting": settings}))
    return path


def test_grid_files_and_names_are_checked(tmp_path):
    grid = load_grid(_grid_file(tmp_path, [{"name": "a", "pretrain_steps": 5, "finetune_lr_grid": [0.001]}]))
    assert grid == (CalibrationSetting("a", pretrain_steps=5, finetune_lr_grid=(0.001,)),)
    bad = [([{"name": "a", "steps": 5}], "unknown key 'steps'"), ([{"pretrain_steps": 5}], "has no name"),
           ([{"name": "a"}, {"name": "a"}], "given twice"), ([{"name": "a", "pretrain_steps": 0}], "at least 1"),
           ([{"name": "a", "finetune_lr_grid": []}], "rates > 0"), ([{"name": "a/b"}], "plain folder name")]
    for settings, message in bad:
        with pytest.raises(BenchmarkError, match=message):
            load_grid(_grid_file(tmp_path, settings))
    assert [s.name for s in select(DEFAULT_GRID, ["pt200-lr1e-2", "pt60-lr1e-3"])] == ["pt200-lr1e-2", "pt60-lr1e-3"]
    with pytest.raises(BenchmarkError, match="unknown setting 'nope'"):
        select(DEFAULT_GRID, ["nope"])


def test_calibrate_command_runs_a_tiny_grid_and_resumes(tmp_path):
    config = tmp_path / "tiny.toml"
    config.write_text(tomli_w.dumps({k: v for k, v in TINY_TABLE.items() if k not in ("ratios", "seeds")}))
    grid = _grid_file(tmp_path, [{"name": "short", "pretrain_steps": 3},
                                 {"name": "long", "pretrain_steps": 6, "pretrain_lr": 0.01, "finetune_lr_grid": [0.003]}])
    args = ["calibrate", "--data", "synthetic", "--config", str(config), "--grid", str(grid), "--seeds", "0,1,2",
            "--ratios", "70:10,60:20", "--out", str(tmp_path / "cal"), "--cpu-workers", "1"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    table = pd.read_csv(tmp_path / "cal" / "calibration.csv")
    assert table["setting"].tolist() == ["short", "long"]
    assert table["pretrain_steps"].tolist() == [3, 6] and table["pretrain_lr"].tolist() == pytest.approx([1e-3, 1e-2])
    assert table["finetune_lr_grid"].tolist() == ["0.01, 0.003", "0.003"]
    assert (table["n_seeds"] == 3).all() and (table["job_cpu_s"] > 0).all() and (table["wall_s"] > 0).all()
    assert (tmp_path / "cal" / "calibration.md").read_text().startswith("**Calibration")
    for name in ("short", "long"):
        rows = pd.read_parquet(next((tmp_path / "cal" / name / "jobs").glob("finetune-control-oracle-*/rows.parquet")))
        assert len(rows) > 0
    again = CliRunner().invoke(app, args)  # resumable: every job is done, nothing runs
    assert again.exit_code == 0, again.output
    repeat = pd.read_csv(tmp_path / "cal" / "calibration.csv")
    assert (repeat["wall_s"] == 0).all() and repeat["gain"].tolist() == pytest.approx(table["gain"].tolist())


def test_calibrate_command_refuses_bad_options(tmp_path):
    for extra, message in ((["--settings", "nope"], "unknown setting 'nope'"),
                           (["--test-split", "half"], "--test-split 'half'"),
                           (["--grid", str(tmp_path / "none.toml")], "no such file")):
        result = CliRunner().invoke(app, ["calibrate", "--data", "synthetic", "--out", str(tmp_path / "c"), *extra])
        assert result.exit_code == 2 and message in result.output, result.output
        assert not (tmp_path / "c").exists()
