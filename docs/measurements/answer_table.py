"""The answer tables of docs/results-arcade.md, rebuilt from a measurement folder's report tables (significance.csv and
health.csv, as `angiobench report` wrote them): `python docs/measurements/answer_table.py FOLDER`."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

LABELS = {"supervised": "UNet (no PT)", "genesis": "Models Genesis", "mae": "MAE", "spark": "SparK",
          "moco": "MoCo v2", "cmunet": "CM-UNet", "vasomim": "VasoMIM", "control-oracle": "Positive control",
          "control-null": "Negative control"}


def signed(x: float) -> str:
    return ("+" if x >= 0 else "−") + f"{abs(x):.3f}"


def answer_table(folder: Path) -> list[str]:
    tests = pd.read_csv(folder / "significance.csv")
    health = pd.read_csv(folder / "health.csv").set_index(["method", "ratio"])
    family = "p_family" in tests  # the many-to-one test's table; older ones are Holm-corrected
    column, name = ("p_family", "p (family)") if family else ("p_seeds_holm", "p (Holm)")
    lines = [f"| PT:FT | Method | Dice | Δ vs UNet (no PT) [95 % CI] | {name} | MDD | Verdict | Pretext learned "
             "| Encoder shift |", "|---|---|---:|---:|---:|---:|---|---:|---:|"]
    for _, row in tests.iterrows():
        label = LABELS.get(row["method"], row["method"])
        if row["role"] == "baseline":
            lines.append(f"| {row['ratio']} | {label} | {row['mean']:.3f} | — | — | — | baseline | — | — |")
            continue
        key = (row["method"], row["ratio"])
        said = key in health.index and health.loc[key, "pretext_said"] > 0
        learned = f"{int(health.loc[key, 'pretext_learned'])}/{int(health.loc[key, 'pretext_said'])}" if said else "—"
        shift = health.loc[key, "encoder_shift_mean"] if key in health.index else float("nan")
        p = f"{row[column]:.3f}" + (" (alone)" if "control" in row["role"] else "")
        mdd = f"{row['mdd']:.3f}" + (f" ({row['mdd_low']:.3f}–{row['mdd_high']:.3f})" if family else "")
        lines.append(f"| {row['ratio']} | {label} | {row['mean']:.3f} | {signed(row['diff'])} [{signed(row['diff_low'])}, "
                     f"{signed(row['diff_high'])}] | {p} | {mdd} | {row['verdict']} | {learned} | "
                     f"{'—' if pd.isna(shift) else f'{shift:.2f}'} |")
    return lines


if __name__ == "__main__":
    print("\n".join(answer_table(Path(sys.argv[1]))))
