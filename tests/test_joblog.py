"""Lines for finished jobs and the time-remaining estimate (benchmark.run.folder.joblog), on a run folder
written by hand; and `angiobench run` without a terminal printing them."""

from __future__ import annotations

import numpy as np
from typer.testing import CliRunner

from benchmark.cli import app
from benchmark.data.splits import Ratio
from benchmark.run.plan.jobs import Job
from benchmark.run.folder.joblog import RunClock, duration_text, job_line
from benchmark.run.folder.store import RunStore
from benchmark.model.unet import UNetConfig
from benchmark.data.preprocess import PreprocessConfig
from conftest import write_tiny_config
from tests.test_reports import add_finetune, image_metrics, write_config


def test_time_left_is_the_pace_so_far_times_the_jobs_left():
    clock = RunClock(total=12, already_done=2, started=100.0)
    assert clock.progress_text(now=130.0) == "2/12 jobs, time left known after the first job"
    clock.finish()
    clock.finish()  # 2 jobs in 60 s, 8 left: 240 s
    assert clock.remaining_s(now=160.0) == 240.0
    assert clock.progress_text(now=160.0) == "4/12 jobs, about 4 min left"
    assert [duration_text(s) for s in (45, 240, 7500)] == ["45 s", "4 min", "2 h 05 min"]


def test_a_finished_finetune_job_line_names_kind_method_ratio_seed_dice_and_seconds(tmp_path):
    write_config(tmp_path, ["mae"], ["79:1"], [0])
    key = add_finetune(tmp_path, "mae", "79:1", 0, image_metrics(np.linspace(0.5, 0.64, 8).tolist()))
    store = RunStore(tmp_path)
    clock = RunClock(total=3, already_done=0, started=0.0)
    clock.finish()
    line = job_line(store, store.read_job(key), "done", "1.5 s", clock, now=30.0)
    assert line == "done mae fine-tune 79:1 seed 0: Dice 0.570, 1.5 s · 1/3 jobs, about 60 s left"


def test_a_failed_job_line_gives_the_first_line_of_its_error():
    ratio = Ratio.parse("79:1")
    job = Job("pretrain-mae-79-1-0", "pretrain", "mae", 0, ratio.pt, ratio.ft, ratio.label, (), job_seed=1, data="x",
              unet=UNetConfig(base=4), preprocess=PreprocessConfig(size=32))
    clock = RunClock(total=1, already_done=0, started=0.0)
    clock.finish()
    assert job_line(RunStore("/nonexistent"), job, "failed", "CUDA out of memory\ntrace", clock, now=1.0) == \
        "failed mae pre-train 79:1 seed 0: CUDA out of memory · 1/1 jobs"


def test_run_without_a_terminal_prints_one_line_per_finished_job(tmp_path):
    config = write_tiny_config(tmp_path, ratios=["70:10"])
    result = CliRunner().invoke(app, ["run", "--config", str(config), "--methods", "supervised", "--executor", "inline",
                                      "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("done ")]
    assert len(lines) == 1 and lines[0].startswith("done supervised fine-tune 70:10 seed 0: Dice ")
    assert lines[0].endswith("· 1/1 jobs")
