"""From command-line options (and an optional TOML file) to one resolved RunConfig and ExecutorConfig.

The option table (`run_request`) is built without the training stack, so a re-run can be checked
against its run folder before anything heavy is imported (benchmark.config.request); turning it into
a RunConfig (`resolve_run_config`) fills in the methods' defaults and imports them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Literal

from benchmark.config.profiles import PRECISIONS, PrecisionName, choose_profile, gpu_visible
from benchmark.config.request import RunRequest
from benchmark.core.errors import BenchmarkError
from benchmark.core.files import holds_a_file, read_toml
from benchmark.core.text import split_csv
from benchmark.data.external import parse_external_tests
from benchmark.data.images import check_mask_threshold

if TYPE_CHECKING:  # the RunConfig module imports the methods and torch
    from benchmark.config.run_config import RunConfig


def run_request(
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
    cuda_available: Callable[[], bool] = gpu_visible,
) -> RunRequest:
    """The run as asked for: file values, then command-line values on top; and a note on `auto`.

    `external_tests` (each NAME=PATH or PATH), when given, replace the file's data.external_tests;
    `pretrained` (each NAME=PATH), when given, the file's pretrained table.
    `mask_threshold` (`--mask-threshold`), when given, the file's data.mask_threshold.
    `evaluation` (`--evaluation`), when given, the file's evaluation.

    The profile comes from `--profile` unless it is `auto` and the file names one; `auto` asks
    `cuda_available` (by default whether a GPU is visible, without torch).
    """
    table = read_toml(config_path) if config_path else {}
    where = str(config_path) if config_path else "options"
    table["profile"], note = choose_profile(profile, table, cuda_available, where)
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
    return RunRequest(table, where, note)


def resolve_run_config(*options: Any, **named: Any) -> tuple[RunConfig, str]:
    """The run's config from `run_request`'s options, with `auto` answered by torch itself; and the
    note on what `auto` chose."""
    import torch

    request = run_request(*options, cuda_available=torch.cuda.is_available, **named)
    return resolve(request), request.note


def resolve(request: RunRequest) -> RunConfig:
    """The RunConfig a request asks for: its table with every default filled in."""
    from benchmark.config.run_config import build_config

    return build_config(request.table, request.where)


def parse_pretrained(entries: list[str] | tuple[str, ...]) -> dict[str, str]:
    """`--pretrained NAME=PATH` entries as RunConfig.pretrained; a malformed or repeated one is refused."""
    found: dict[str, str] = {}
    for entry in entries:
        name, sep, path = entry.partition("=")
        if not (sep and name and path):
            raise BenchmarkError(f"--pretrained {entry!r}: write NAME=PATH (PATH a safetensors file or an "
                                 "`angiobench export` folder)")
        if name in found:
            raise BenchmarkError(f"--pretrained: the name {name!r} is given twice ({found[name]} and {path})")
        found[name] = path
    return found


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
