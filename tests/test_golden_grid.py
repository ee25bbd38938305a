"""A fixed tiny grid gives exactly the rows and job outcomes recorded in tests/data/golden_grid.json:
a refactor that changes a number, a job key, a column, its order or its dtype fails here.

The grid (supervised and MAE at 60:20, one seed, in fp32 on one thread, an external test set) is
trained inline; what varies with the machine or the commit (timings, versions, device, git commit)
is left out. The numbers themselves depend on the CPU: the same fp32 code gives a last-digit
different loss on an AMD EPYC than on an Intel Xeon, and training amplifies it (MAE's fine-tuned
Dice differs in the second digit). So the file holds one record per kind of CPU it was written on;
the structure (columns, dtypes, job keys, every value that is not a float) must equal every record,
and the numbers must equal one record exactly. After a change that is meant to change results
(and bumps HARNESS_VERSION), or on a new kind of CPU, write this machine's record with
`python tests/test_golden_grid.py` (it replaces a record of the same CPU and keeps the others; after
a change of results, delete the file first and record on each kind).
"""

from __future__ import annotations

import json
import platform
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


def machine_label() -> str:
    """The CPU the numbers were computed on, and the kernels torch picks for it."""
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.exists() else []
    model = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")),
                 platform.processor() or "unknown CPU")
    return f"{model} / {torch.backends.cpu.get_cpu_capability()}"


def read_records(path: Path = GOLDEN) -> list[dict]:
    """The recorded runs, one per kind of CPU (a file from before the labels: one unlabelled record)."""
    saved = json.loads(path.read_text())
    return saved["records"] if "records" in saved else [{"machine": "unlabelled", **saved}]


def _floats_equal(a: object, b: object) -> bool:
    return a == b or (isinstance(a, float) and isinstance(b, float) and a != a and b != b)


def _without_floats(value: object) -> object:
    """`value` with every float replaced by a marker: what must not depend on the CPU."""
    if isinstance(value, float):
        return "<float>"
    if isinstance(value, dict):
        return {k: _without_floats(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_floats(v) for v in value]
    return value


def _numbers_equal(now: dict, record: dict) -> bool:
    if now["statuses"] != record["statuses"] or len(now["rows"]) != len(record["rows"]):
        return False
    return all(_floats_equal(a, b) for got, want in zip(now["rows"], record["rows"]) for a, b in zip(got, want))


def _first_difference(now: dict, record: dict) -> str:
    for key, status in record["statuses"].items():
        if now["statuses"].get(key) != status:
            return f"status of {key}: {now['statuses'].get(key)} != {status}"
    for got, want in zip(now["rows"], record["rows"]):
        if not all(_floats_equal(a, b) for a, b in zip(got, want)):
            return f"row {got} != {want}"
    return "no difference"


def test_the_fixed_grid_gives_the_recorded_rows_and_outcomes(tmp_path):
    records = read_records()
    now = golden_grid(tmp_path)
    for record in records:
        assert now["columns"] == record["columns"]
        assert now["dtypes"] == record["dtypes"]
        assert _without_floats(now["statuses"]) == _without_floats(record["statuses"])
        assert _without_floats(now["rows"]) == _without_floats(record["rows"])
    if not any(_numbers_equal(now, record) for record in records):
        closest = records[0]
        raise AssertionError(
            f"the numbers match no recorded CPU ({', '.join(r['machine'] for r in records)}); this is "
            f"{machine_label()}: on a new kind of CPU record it with `python tests/test_golden_grid.py`, "
            f"else a change moved results. First difference from {closest['machine']}: "
            f"{_first_difference(now, closest)}")


def test_a_record_matches_only_its_own_numbers():
    record = {"machine": "m", "columns": ["dice"], "dtypes": ["float64"], "statuses": {"k": {"loss": 0.5}},
              "rows": [[0.25, float("nan")]]}
    same = json.loads(json.dumps({**record, "rows": [[0.25, float("nan")]]}))
    assert _numbers_equal(same, record)  # NaN equals NaN here, as the file holds it
    assert not _numbers_equal({**record, "rows": [[0.25000001, float("nan")]]}, record)
    assert not _numbers_equal({**record, "statuses": {"k": {"loss": 0.4}}}, record)
    assert _without_floats({"k": [1, 0.5, "a"]}) == {"k": [1, "<float>", "a"]}


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        result = golden_grid(Path(folder))
    label = machine_label()
    kept = [r for r in read_records() if r["machine"] != label] if GOLDEN.exists() else []
    GOLDEN.write_text(json.dumps({"records": kept + [{"machine": label, **result}]}, indent=1) + "\n")
    print(f"wrote {GOLDEN}: {label} (and {len(kept)} other record(s))")
