"""From command-line options (and an optional TOML file) to one resolved RunConfig and ExecutorConfig."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch

from benchmark.config.run_config import RunConfig, build_config, parse_pretrained
from benchmark.core.files import holds_a_file, read_toml
from benchmark.config.profiles import PRECISIONS, PrecisionName, choose_profile
from benchmark.data.external import parse_external_tests
from benchmark.data.images import check_mask_threshold
from benchmark.core.errors import BenchmarkError
from benchmark.core.text import split_csv


def resolve_run_config(
    config_path: Path | None = None,
    data: str | None = None,
    methods: str | None = None,
    ratios: str | None = None,
    seeds: str | None = None,
    profile: str = "auto",
    protocol: str | None = None,
    external_tests: list[str] | None = None,
    pretrained: list[str] | None = None,
    mask_threshold: int | None = None,
    evaluation: str | None = None,
) -> tuple[RunConfig, str]:
    """The run's config: file values, then command-line values on top; and a note on `auto`.

    `external_tests` (each NAME=PATH or PATH), when given, replace the file's data.external_tests;
    `pretrained` (each NAME=PATH), when given, the file's pretrained table.
    `mask_threshold` (`--mask-threshold`), when given, the file's data.mask_threshold.
    `evaluation` (`--evaluation`), when given, the file's evaluation.

    The profile comes from `--profile` unless it is `auto` and the file names one.
    """
    table = read_toml(config_path) if config_path else {}
    where = str(config_path) if config_path else "options"
    table["profile"], note = choose_profile(profile, table, torch.cuda.is_available, where)
    if protocol is not None:
        table["protocol"] = protocol
    if evaluation is not None:
        table["evaluation"] = evaluation
    if data is not None:
        if data != "synthetic" and not Path(data).exists():
            raise BenchmarkError(f"--data {data}: no such file or folder")
        if data != "synthetic" and Path(data).is_dir() and not holds_a_file(data):
            raise BenchmarkError(f"--data {data}: the folder is empty (no file in it or its sub-folders)")
        table.setdefault("data", {})
        table["data"] = {**table["data"], "source": data if data == "synthetic" else str(Path(data).resolve())}
    if mask_threshold is not None:
        check_mask_threshold(mask_threshold, "--mask-threshold")
        table["data"] = {**table.get("data", {}), "mask_threshold": mask_threshold}
    if external_tests:
        entries = [t.entry for t in parse_external_tests(external_tests, table.get("data", {}).get("source", "synthetic"))]
        table["data"] = {**table.get("data", {}), "external_tests": entries}
    if pretrained:
        table["pretrained"] = parse_pretrained(pretrained)
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
    return build_config(table, where), note


EXECUTOR_KINDS = ("local", "inline", "slurm")


@dataclass(frozen=True)
class ExecutorConfig:
    """Where jobs run; chosen once per run (see benchmark.run.execute.executors)."""

    kind: Literal["local", "inline", "slurm"] = "local"  # inline: in this process, one job at a time
    devices: tuple[int, ...] = ()  # GPU indices to use; () = every visible GPU
    jobs_per_device: int = 1
    cpu_workers: int = 0  # slots when there is no GPU; 0 = auto (one per core, at most 4)
    threads_per_worker: int = 0  # torch threads per CPU job; 0 = cores / workers
    persistent_cpu_workers: bool = True  # False: a fresh subprocess per CPU job, as on GPUs
    slurm_partition: str = ""
    slurm_gpus_per_job: int = 1
    slurm_cpus_per_job: int = 8
    slurm_time_min: int = 240
    slurm_cluster: str = "slurm"  # "local" runs through submitit's local executor (tests)
    slurm_controller_timeout_s: float = 300.0  # a controller silent this long ends the run (jobs keep running)
    poll_seconds: float = 0.2
    compile: bool = False  # torch.compile each job's training step: pays on long GPU jobs
    precision: PrecisionName = "auto"  # auto: bf16 on CUDA and on CPUs with bf16 units

    def bf16(self) -> bool | None:
        """DeviceOptions.bf16 for this choice (None: decided by the device)."""
        return None if self.precision == "auto" else self.precision == "bf16"


def parse_devices(devices: str | None) -> tuple[int, ...]:
    """`--devices 0,1` → (0, 1); anything but GPU indices is an error naming the option."""
    parts = split_csv(devices) or []
    if not all(p.isdigit() for p in parts):
        raise BenchmarkError(f"--devices {devices!r}: give GPU indices such as 0,1")
    return tuple(int(p) for p in parts)


def resolve_executor(kind: str = "local", devices: str | None = None, **options: object) -> ExecutorConfig:
    """The executor config from command-line values; `options` are ExecutorConfig fields."""
    if options.get("precision", "auto") not in PRECISIONS:
        raise BenchmarkError(f"--precision {options['precision']!r} is not one of {', '.join(PRECISIONS)}")
    if kind not in EXECUTOR_KINDS:
        raise BenchmarkError(f"--executor {kind!r} is not one of {', '.join(EXECUTOR_KINDS)}")
    config = ExecutorConfig(kind=kind, devices=parse_devices(devices), **options)  # type: ignore[arg-type]
    for name, least in (("jobs_per_device", 1), ("cpu_workers", 0)):
        if getattr(config, name) < least:
            raise BenchmarkError(f"--{name.replace('_', '-')} must be at least {least}")
    return config
