"""The `slurm` executor on a real one-node SLURM (tests/slurm/local_slurm.sh start, as root), with no
accounting: a grid runs; a cancelled job and a killed driver both resume, the latter without a job
submitted twice; a controller that is down is one line, not a hang.

Skipped where no SLURM answers, unless ANGIOBENCH_REQUIRE_SLURM=1 (as in .ci/run), where that fails.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmark.run.folder.store import RunStore, load_jobs, load_results
from conftest import write_tiny_config

SCRIPT = Path(__file__).parent / "slurm" / "local_slurm.sh"
SLURM = ["--executor", "slurm", "--slurm-partition", "debug", "--slurm-gpus-per-job", "0", "--slurm-cpus-per-job", "1"]


def _slurm_answers() -> bool:
    if shutil.which("scontrol") is None:
        return False
    return subprocess.run(["scontrol", "ping"], capture_output=True, text=True).stdout.count("UP") > 0


pytestmark = [pytest.mark.slurm]


@pytest.fixture(scope="module", autouse=True)
def local_slurm():
    """A controller for these tests: one already running is used as it is; else, as root, the local
    one-node SLURM is started here and stopped when the module ends (no daemon outlives the tests)."""
    if _slurm_answers():
        yield
        return
    started = os.geteuid() == 0 and subprocess.run([str(SCRIPT), "start"], capture_output=True).returncode == 0
    if not started:
        if os.environ.get("ANGIOBENCH_REQUIRE_SLURM") == "1":
            pytest.fail(f"ANGIOBENCH_REQUIRE_SLURM=1 but no SLURM controller answers: run {SCRIPT} start")
        pytest.skip(f"no SLURM controller answers and none could be started ({SCRIPT} start needs root)")
    yield
    subprocess.run([str(SCRIPT), "stop"], capture_output=True)


def _command(folder: Path, out: Path, mae_steps: int = 8, slurm: tuple[str, ...] = tuple(SLURM)) -> list[str]:
    config = write_tiny_config(folder, methods=["supervised", "mae"], ratios=["70:10"],
                               pretrain={"mae": {"steps": mae_steps, "batch_size": 8}})
    return [sys.executable, "-c", "from benchmark.cli import app; app()", "run", "--config", str(config),
            "--profile", "tiny", "--out", str(out), *slurm]


def _our_jobs(out: Path) -> dict[str, tuple[str, str]]:
    """SLURM job id → (name, state) of this run's jobs the controller lists."""
    listed = subprocess.run(["squeue", "--me", "--noheader", "--states=all", "--format=%i|%j|%T"],
                            capture_output=True, text=True, check=True).stdout.splitlines()
    submitted = {p.name.split("_")[0] for p in (out / "slurm").glob("*_submitted.pkl")} if (out / "slurm").is_dir() else set()
    jobs = {}
    for line in listed:
        slurm_id, name, state = line.split("|")
        if slurm_id in submitted:
            jobs[slurm_id] = (name, state)
    return jobs


def _wait_for_running_pretrain(out: Path, timeout_s: float = 180) -> str:
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        for slurm_id, (name, state) in _our_jobs(out).items():
            if name.startswith("angiobench-pretrain") and state == "RUNNING":
                return slurm_id
        time.sleep(0.5)
    raise AssertionError("the pre-training job never ran on SLURM")


def _submissions(out: Path) -> int:
    return len(list((out / "slurm").glob("*_submitted.pkl")))


def test_a_tiny_grid_runs_through_slurm_without_accounting(tmp_path):
    result = subprocess.run(_command(tmp_path, tmp_path / "run"), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "sacct" not in result.stdout + result.stderr
    jobs = load_jobs(tmp_path / "run")
    assert set(jobs["state"]) == {"done"} and len(jobs) == 3
    assert len(load_results(tmp_path / "run")) == 2 * 10
    assert _submissions(tmp_path / "run") == 3


def test_a_cancelled_job_is_recorded_interrupted_and_a_rerun_resumes_it(tmp_path):
    out = tmp_path / "run"
    command = _command(tmp_path, out, mae_steps=3000)  # long enough to be cancelled while it runs
    driver = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    slurm_id = _wait_for_running_pretrain(out)
    subprocess.run(["scancel", slurm_id], check=True)
    output, _ = driver.communicate(timeout=300)
    assert driver.returncode == 1, output
    store = RunStore(out)
    pretrain = next(k for k in store.job_keys() if k.startswith("pretrain-"))
    assert store.read_status(pretrain).error == f"interrupted (SLURM job {slurm_id} CANCELLED)"
    assert store.state(next(k for k in store.job_keys() if k.startswith("finetune-mae"))) == "skipped"
    assert load_jobs(out).query("state == 'done'")["method"].tolist() == ["supervised"]
    rerun = subprocess.run(command, capture_output=True, text=True, timeout=900)  # no --retry-failed
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert "1 already done" in rerun.stdout
    assert set(load_jobs(out)["state"]) == {"done"} and len(load_results(out)) == 2 * 10


def test_a_killed_driver_is_resumed_by_adopting_its_jobs_not_submitting_them_twice(tmp_path):
    out = tmp_path / "run"
    # short: the job reads RUNNING from its start (seconds of imports), and must finish after adoption
    command = _command(tmp_path, out, mae_steps=60)
    driver = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    running = _wait_for_running_pretrain(out)
    os.killpg(driver.pid, signal.SIGKILL)  # the driver dies; its SLURM jobs run on under slurmd
    driver.wait()
    assert _our_jobs(out)[running][1] in ("RUNNING", "COMPLETING", "COMPLETED")
    submitted_before = _submissions(out)
    rerun = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert set(load_jobs(out)["state"]) == {"done"}
    # every benchmark job was submitted once: the running pre-training job was adopted, not resubmitted
    assert _submissions(out) == 3 and submitted_before == 2
    names = [name for name, _ in _our_jobs(out).values()]
    assert len(names) == len(set(names)) == 3


def test_a_controller_that_is_down_is_one_line_and_no_hang(tmp_path):
    subprocess.run(["pkill", "-x", "slurmctld"], check=True)
    try:
        deadline = time.time() + 30
        while _slurm_answers() and time.time() < deadline:
            time.sleep(0.5)
        result = subprocess.run(_command(tmp_path, tmp_path / "run"), capture_output=True, text=True, timeout=120)
        assert result.returncode == 2
        lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
        assert len(lines) == 1 and "the SLURM controller is down" in lines[0], lines
        assert not (tmp_path / "run").exists()
    finally:
        subprocess.run([str(SCRIPT), "start"], check=True, capture_output=True)


def test_asking_gpus_of_a_partition_without_any_is_one_line_before_the_folder_is_made(tmp_path):
    """This cluster's one node has no GPUs: the default --slurm-gpus-per-job 1 is refused from what sinfo
    says, naming the option to change, and nothing is written or submitted."""
    default_gpus = ("--executor", "slurm", "--slurm-partition", "debug", "--slurm-cpus-per-job", "1")
    command = _command(tmp_path, tmp_path / "run", slurm=default_gpus)
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    output = (result.stdout + result.stderr).strip()
    assert result.returncode != 0 and "Traceback" not in output and len(output.splitlines()) <= 2, output
    assert "--slurm-gpus-per-job 1: partition debug has no GPUs" in output and "--slurm-gpus-per-job 0" in output
    assert not (tmp_path / "run").exists()
