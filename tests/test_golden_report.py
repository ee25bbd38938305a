"""A fixed run folder (hand-written rows, no training) gives the report recorded in
tests/data/golden_report.json: every table's Markdown and the summary's lines. A refactor that moves
code without meaning to change a result fails here on any CPU (the tables print three digits).
After a change meant to change the report, write a new record with
`python tests/test_golden_report.py --record`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from test_reports import add_finetune, add_pretrain, image_metrics, write_config  # noqa: E402

GOLDEN = Path(__file__).parent / "data" / "golden_report.json"
METHODS = ["supervised", "mae", "cmunet", "control-oracle", "control-null"]
RATIOS = ["50:30", "79:1"]
SEEDS = [0, 1, 2]
#: Each method's Dice offset from the baseline's per-image values.
OFFSETS = {"supervised": 0.0, "mae": 0.01, "cmunet": 0.03, "control-oracle": 0.15, "control-null": 0.0}


def golden_run(root: Path) -> Path:
    """Three seeds of five methods at two ratios: per-image and per-seed noise from one fixed stream,
    pre-training jobs for the SSL methods (MAE's pretext not learned)."""
    write_config(root, METHODS, RATIOS, SEEDS)
    rng = np.random.default_rng(20261207)
    base = np.linspace(0.45, 0.7, 8)
    for method in METHODS:
        for ratio in RATIOS:
            for seed in SEEDS:
                parents = ()
                if method in ("mae", "cmunet"):
                    parents = (add_pretrain(root, method, ratio, seed, learned=method == "cmunet"),)
                dice = np.clip(base + OFFSETS[method] + rng.normal(0, 0.02) + rng.normal(0, 0.01, 8), 0, 1)
                add_finetune(root, method, ratio, seed, image_metrics(dice.tolist(), shift=OFFSETS[method]),
                             depends_on=parents)
    return root


def golden_report(root: Path) -> dict:
    from reports import build_report

    result = build_report(golden_run(root), formats=("png",))
    tables = {path.name: path.read_text() for path in sorted(result.out_dir.glob("tables/*.md"))}
    return {"summary": result.summary, "tables": tables}


def test_the_report_of_a_fixed_run_is_the_recorded_one(tmp_path):
    record = json.loads(GOLDEN.read_text())
    now = golden_report(tmp_path / "run")
    assert sorted(now["tables"]) == sorted(record["tables"])
    for name, text in record["tables"].items():
        assert now["tables"][name] == text, f"table {name} differs from the record"
    assert now["summary"] == record["summary"]


if __name__ == "__main__" and sys.argv[1:] == ["--record"]:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        GOLDEN.write_text(json.dumps(golden_report(Path(folder) / "run"), indent=1) + "\n")
    print(f"recorded {GOLDEN}")
