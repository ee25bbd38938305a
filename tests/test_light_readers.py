"""Reading results needs no training stack: `load_results`, reports.read.contents, `angiobench report` and
`angiobench status` import neither torch nor numba nor the methods (each costs seconds to import,
and a laptop reading a cluster's run folder may have none of them)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from test_reports import complete_run

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "numba", "methods")
READ = """
{prelude}
import json, sys
from benchmark.run.folder.store import load_jobs, load_results
import reports.read.contents
from benchmark.cli import app

run_dir, out = sys.argv[1], sys.argv[2]
assert len(load_results(run_dir)) and len(load_jobs(run_dir))
reports.read.contents.read_run(run_dir)
for args in (["status", run_dir], ["report", run_dir, "--out", out, "--format", "png"]):
    app(args, standalone_mode=False)
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in {heavy})))
"""


def _loaded_after_reading(run_dir: Path, out: Path, prelude: str = "") -> list[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    script = READ.format(heavy=set(HEAVY), prelude=prelude)
    done = subprocess.run([sys.executable, "-c", script, str(run_dir), str(out)],
                          capture_output=True, text=True, env=env, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_reading_a_run_imports_neither_torch_nor_numba_nor_the_methods(tmp_path):
    run_dir = complete_run(tmp_path / "run")
    assert _loaded_after_reading(run_dir, tmp_path / "report") == []
    assert (tmp_path / "report" / "index.html").is_file()  # the report was built, not skipped


def test_the_check_sees_a_heavy_import(tmp_path):
    """The same script, with torch imported first on purpose, lists it: the check can fail."""
    run_dir = complete_run(tmp_path / "run")
    assert "torch" in _loaded_after_reading(run_dir, tmp_path / "report", prelude="import torch")


def test_the_entry_point_loads_results_without_the_training_stack(tmp_path):
    """`from benchmark import load_results`, as the README shows, reads a run's rows and imports
    neither torch nor numba nor the methods."""
    run_dir = complete_run(tmp_path / "run")
    script = ("import json, sys\nfrom benchmark import load_results\nrows = load_results(sys.argv[1])\n"
              f"print(len(rows), json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {set(HEAVY)})))")
    done = subprocess.run([sys.executable, "-c", script, str(run_dir)], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    count, loaded = done.stdout.split(" ", 1)
    assert int(count) == 48 and json.loads(loaded) == []
