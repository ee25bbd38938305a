"""A re-run with nothing to do is answered from the run folder: the same command on a folder whose
jobs are all done prints the run's outcome without importing torch, numba or the methods; anything
that could change a job (an option, a data file, the code) sends it back to planning."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmark.config.options import run_request
from benchmark.config.request import RunRequest, files_stamp, source_digest
from benchmark.run.folder.store import RunStore, finished_run
from conftest import write_tiny_config

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "numba", "methods")
RUN = """
import json, sys
from benchmark.cli import app
try:
    app(sys.argv[1:], standalone_mode=False)
finally:
    print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in {heavy})))
"""


def _run(*args: str) -> tuple[str, list[str]]:
    done = subprocess.run([sys.executable, "-c", RUN.format(heavy=set(HEAVY)), "run", *args], capture_output=True,
                          text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"})
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    return "\n".join(lines[:-1]), json.loads(lines[-1])


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> tuple[list[str], Path]:
    folder = tmp_path_factory.mktemp("rerun")
    args = ["--config", str(write_tiny_config(folder, methods=["supervised"], ratios=["70:10"])),
            "--executor", "inline", "--out", str(folder / "run")]
    first, loaded = _run(*args)
    assert "1 job(s) run, 0 already done" in first and "torch" in loaded
    return args, folder / "run"


def test_the_same_command_on_a_finished_run_imports_no_training_stack(finished):
    args, run_dir = finished
    again, loaded = _run(*args)
    assert loaded == []
    assert f"{run_dir}: 0 job(s) run, 1 already done, 0 failed, 0 skipped" in again
    assert "mean test Dice" in again and "supervised" in again and f"report: {run_dir}/report/index.html" in again


def test_another_request_or_a_job_not_done_goes_back_to_planning(finished, monkeypatch):
    args, run_dir = finished
    monkeypatch.chdir(ROOT)
    config = Path(args[1])
    source_digest.cache_clear()  # this process may have hashed the source before the fixture ran
    request = run_request(config)
    assert finished_run(run_dir, request.digest()) == RunStore(run_dir).job_keys()
    assert finished_run(run_dir, run_request(config, seeds="1").digest()) is None  # another option
    assert finished_run(run_dir, "0" * 64) is None
    status = RunStore(run_dir).job_dir(RunStore(run_dir).job_keys()[0]) / "status.json"
    kept = status.read_text()
    status.write_text(json.dumps({"state": "failed", "error": "boom"}))
    try:
        assert finished_run(run_dir, request.digest()) is None  # a job not done
    finally:
        status.write_text(kept)
    assert finished_run(run_dir.parent / "absent", request.digest()) is None


def test_the_digest_follows_every_input_a_job_depends_on(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data = tmp_path / "data"
    (data / "imgs").mkdir(parents=True)
    image = data / "imgs" / "a.png"
    image.write_bytes(b"x")
    request = RunRequest({"profile": "tiny", "data": {"source": str(data)}}, "options", "")
    before = request.digest()
    assert request.digest() == before  # the same request, the same digest
    assert RunRequest({"profile": "small", "data": {"source": str(data)}}, "options", "").digest() != before
    os.utime(image, ns=(1, 1))  # a data file touched
    touched = request.digest()
    assert touched != before
    (data / "imgs" / "b.png").write_bytes(b"y")  # a file added
    assert request.digest() != touched
    monkeypatch.chdir(data)  # relative paths read from elsewhere
    assert request.digest() != touched


def test_the_stamp_lists_every_file_under_a_folder_through_links(tmp_path):
    (tmp_path / "real" / "sub").mkdir(parents=True)
    (tmp_path / "real" / "sub" / "a.png").write_bytes(b"abc")
    (tmp_path / "linked").symlink_to(tmp_path / "real")
    stamp = files_stamp(tmp_path / "linked")
    assert [(name, size) for name, size, _ in stamp] == [("sub/a.png", 3)]
    assert files_stamp(tmp_path / "nothing") == "missing"


def test_the_source_digest_changes_with_any_file_of_the_harness_or_its_methods(tmp_path):
    for name in ("benchmark/run/jobs.py", "methods/mae.py"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("HARNESS_VERSION = 3\n")
    before = source_digest(tmp_path)
    (tmp_path / "methods" / "mae.py").write_text("HARNESS_VERSION = 4\n")
    source_digest.cache_clear()
    changed = source_digest(tmp_path)
    assert changed != before
    (tmp_path / "README.md").write_text("not code")  # only the code counts
    source_digest.cache_clear()
    assert source_digest(tmp_path) == changed
