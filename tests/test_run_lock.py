"""One run per folder: a second run is refused naming the holder; a killed holder's lock is taken over;
readers still read a folder in use."""

import signal
import socket
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from benchmark.cli import app
from benchmark.core.errors import BenchmarkError
from benchmark.run.execute import runner
from benchmark.run.folder.lock import lock_path, run_lock
from benchmark.run.folder.store import load_results
from benchmark.config.options import ExecutorConfig, resolve_run_config
from conftest import write_tiny_config

HOLD = "import sys, time\nfrom benchmark.run.folder.lock import run_lock\nwith run_lock(sys.argv[1]):\n" \
       "    print('held', flush=True)\n    time.sleep(120)\n"


@pytest.fixture
def holder(tmp_path):
    """Another process holding the lock of tmp_path/run."""
    process = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path / "run")], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "held"
    yield process
    process.kill()
    process.wait()


def test_a_second_lock_is_refused_naming_the_holder_and_a_killed_holders_lock_is_taken_over(tmp_path, holder):
    with pytest.raises(BenchmarkError, match=f"run is in use by another angiobench run \\(PID {holder.pid} "
                                             f"on host {socket.gethostname()}, since "):
        with run_lock(tmp_path / "run"):
            pass
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert lock_path(tmp_path / "run").exists()  # left behind by the killed holder
    with run_lock(tmp_path / "run"):
        assert lock_path(tmp_path / "run").exists()
    assert not lock_path(tmp_path / "run").exists()


def test_a_run_on_a_folder_in_use_is_refused_in_one_line_and_status_still_reads_it(tmp_path):
    path = write_tiny_config(tmp_path, methods=["supervised"], ratios=["70:10"])
    config = resolve_run_config(path)[0]
    runner.run_benchmark(config, tmp_path / "run", ExecutorConfig(kind="inline"))
    rows = load_results(tmp_path / "run")
    process = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path / "run")], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline().strip() == "held"
        cli = CliRunner()
        refused = cli.invoke(app, ["run", "--config", str(path), "--out", str(tmp_path / "run")])
        assert refused.exit_code == 2
        lines = [line for line in refused.output.splitlines() if line.strip()]
        assert len(lines) == 1 and f"PID {process.pid}" in lines[0], refused.output
        with pytest.raises(BenchmarkError, match="in use"):
            runner.run_benchmark(config, tmp_path / "run", ExecutorConfig(kind="inline"))
        status = cli.invoke(app, ["status", str(tmp_path / "run")])
        assert status.exit_code == 0 and "done" in status.output
        assert len(load_results(tmp_path / "run")) == len(rows)
    finally:
        process.kill()
        process.wait()


def test_a_refused_start_leaves_no_run_folder(tmp_path, holder):
    config = resolve_run_config(write_tiny_config(tmp_path, methods=["supervised"], ratios=["70:10"]))[0]
    with pytest.raises(BenchmarkError, match="in use"):
        runner.run_benchmark(config, tmp_path / "run", ExecutorConfig(kind="inline"))
    assert not (tmp_path / "run").exists()
