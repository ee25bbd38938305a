"""A fixed tiny grid gives exactly the rows and job outcomes recorded in tests/data/golden_grid.json:
a refactor that changes a number, a job key, a column, its order or its dtype fails here.

The grid (supervised and MAE at 60:20, one seed, in fp32 on one thread, an external test set) is
trained inline; what varies with the machine or the commit (timings, versions, device, git commit)
is left out. After a change that is meant to change results (and bumps HARNESS_VERSION), write the
file again with `python tests/test_golden_grid.py`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

from benchmark.data.synthetic import write_synthetic
from benchmark.run import runner
from benchmark.run.store import load_results
from benchmark.settings import ExecutorConfig, resolve_run_config

GOLDEN = Path(__file__).parent / "data" / "golden_grid.json"
#: Row columns and status fields that depend on the machine, the commit or the clock.
MACHINE_COLUMNS = ("git_commit", "versions", "device", "wall_time_s")
MACHINE_STATUS = ("time", "git_commit", "versions", "device", "wall_time_s")


def golden_grid(folder: Path) -> dict:
    """Run the fixed grid in `folder`; its rows (all test sets) and each job's status, as JSON values."""
    sys.path.insert(0, str(Path(__file__).parent))
    from conftest import write_tiny_config

    write_synthetic(folder / "ext", n=6, size=64, seed=5)
    path = write_tiny_config(folder, methods=["supervised", "mae"], ratios=["60:20"],
                             data={"synthetic_count": 50, "synthetic_size": 64, "external_tests": [f"ext={folder / 'ext'}"]},
                             pretrain={"mae": {"epochs": 1, "steps": 4, "batch_size": 8}},
                             finetune={"steps": 24, "eval_every": 8, "lr_grid": [0.01, 0.003], "batch_size": 4})
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        config = resolve_run_config(path)[0]
        outcome = runner.run_benchmark(config, folder / "run", ExecutorConfig(kind="inline", precision="fp32"))
    finally:
        torch.set_num_threads(threads)
    assert not outcome.summary.failed, outcome.summary
    rows = load_results(folder / "run", "all").drop(columns=list(MACHINE_COLUMNS))
    rows = rows.sort_values(["job_key", "test_set", "image_id"]).reset_index(drop=True)
    statuses = {}
    for key in sorted(outcome.store.job_keys()):
        status = json.loads((outcome.store.job_dir(key) / "status.json").read_text())
        statuses[key] = {k: v for k, v in status.items() if k not in MACHINE_STATUS}
    values = [[v.item() if hasattr(v, "item") else v for v in row] for row in rows.itertuples(index=False)]
    return {"columns": list(rows.columns), "dtypes": [str(t) for t in rows.dtypes], "statuses": statuses,
            "rows": json.loads(json.dumps(values))}  # as the file holds them: floats exact, NaN as NaN


def _floats_equal(a: object, b: object) -> bool:
    return a == b or (isinstance(a, float) and isinstance(b, float) and a != a and b != b)


def test_the_fixed_grid_gives_the_recorded_rows_and_outcomes(tmp_path):
    golden = json.loads(GOLDEN.read_text())
    now = golden_grid(tmp_path)
    assert now["columns"] == golden["columns"]
    assert now["dtypes"] == golden["dtypes"]
    assert now["statuses"] == golden["statuses"]
    assert len(now["rows"]) == len(golden["rows"])
    for got, want in zip(now["rows"], golden["rows"]):
        assert all(_floats_equal(a, b) for a, b in zip(got, want)), (got, want)


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        result = golden_grid(Path(folder))
    GOLDEN.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {GOLDEN}")
