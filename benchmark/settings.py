"""From command-line options (and an optional TOML file) to one resolved RunConfig."""

from __future__ import annotations

from pathlib import Path

import torch

from benchmark.config import RunConfig, build_config, read_toml, resolve_profile
from benchmark.errors import BenchmarkError
from benchmark.text import split_csv


def resolve_run_config(
    config_path: Path | None = None,
    data: str | None = None,
    methods: str | None = None,
    ratios: str | None = None,
    seeds: str | None = None,
    profile: str = "auto",
) -> tuple[RunConfig, str]:
    """The run's config: file values, then command-line values on top; and a note on `auto`.

    The profile comes from `--profile` unless it is `auto` and the file names one.
    """
    table = read_toml(config_path) if config_path else {}
    note = ""
    if profile != "auto" or "profile" not in table:
        cuda = torch.cuda.is_available()
        chosen = resolve_profile(profile, cuda)
        if profile == "auto":
            note = f"--profile auto: {'CUDA found' if cuda else 'no CUDA'}, using the {chosen} profile"
        table["profile"] = chosen
    if data is not None:
        if data != "synthetic" and not Path(data).exists():
            raise BenchmarkError(f"--data {data}: no such file or folder")
        table.setdefault("data", {})
        table["data"] = {**table["data"], "source": data if data == "synthetic" else str(Path(data).resolve())}
    if methods is not None:
        table["methods"] = split_csv(methods)
        if not table["methods"]:
            raise BenchmarkError("--methods is empty")
    if ratios is not None:
        table["ratios"] = split_csv(ratios)
    if seeds is not None:
        values = split_csv(seeds)
        if not values:
            raise BenchmarkError("--seeds is empty: give at least one seed, e.g. 0,1,2")
        try:
            table["seeds"] = [int(v) for v in values]
        except ValueError:
            raise BenchmarkError(f"--seeds {seeds!r}: seeds must be integers") from None
    where = str(config_path) if config_path else "options"
    return build_config(table, where), note
