"""The `angiobench` command line: parses options, calls the library, prints. Nothing else lives here."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Optional

import typer
from typer.core import TyperCommand, TyperGroup
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from benchmark.data.readers.registry import AUTO, format_names
from benchmark.core.errors import BenchmarkError
from benchmark.config.profiles import DEVICES, PRECISIONS
from benchmark.core.text import did_you_mean, split_csv

if TYPE_CHECKING:  # the run's types import torch; the command line imports them when it runs
    from benchmark.config.options import ExecutorConfig
    from benchmark.config.run_config import RunConfig
    from benchmark.run.execute.runner import RunOutcome

class _PlainHelp:
    """--help without a type beside it: each option here gives its own metavar (PATH, N, TEXT, none
    for a flag), and Typer would show the help flag as `<bool>`."""

    def get_help_option(self, ctx):  # noqa: ANN001, ANN201 (Typer's own signature)
        option = super().get_help_option(ctx)
        if option is not None:
            option.metavar = ""
        return option


class PlainHelpCommand(_PlainHelp, TyperCommand):
    pass


class PlainHelpGroup(_PlainHelp, TyperGroup):
    pass


app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False, cls=PlainHelpGroup,
                  help="Benchmark self-supervised pre-training for coronary-artery segmentation.")
data_app = typer.Typer(no_args_is_help=True, cls=PlainHelpGroup, help="Create and check datasets.")
methods_app = typer.Typer(no_args_is_help=True, cls=PlainHelpGroup, help="List and check SSL methods.")
app.add_typer(data_app, name="data")
app.add_typer(methods_app, name="methods")
console = Console()
err_console = Console(stderr=True)


@contextmanager
def user_errors() -> Iterator[None]:
    """A BenchmarkError becomes one red line and exit code 2; bugs keep their traceback."""
    try:
        yield
    except BenchmarkError as error:
        err_console.print(f"[red]error:[/red] {error}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None


def _progress(disable: bool = False) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[info]}"), TimeElapsedColumn(), console=console, transient=False,
                    disable=disable)


def _bar_callback(progress: Progress, description: str):
    task = progress.add_task(description, total=None, info="")

    def update(done: int, total: int, message: str) -> None:
        progress.update(task, completed=done, total=total, info=message)

    return update


def _print_table(columns: list[str], rows: list[list], title: str) -> None:
    table = Table(title=title)
    for column in columns:
        table.add_column(str(column))
    for row in rows:
        table.add_row(*[f"{v:.3f}" if isinstance(v, float) else str(v) for v in row])
    console.print(table)


def _print_frame(frame, title: str) -> None:
    _print_table(list(frame.columns), [list(row) for row in frame.itertuples(index=False)], title)


EXTERNAL_TEST_HELP = ("Also score every fine-tuned model on this labelled dataset (NAME=PATH or PATH; "
                      "repeatable; never used for selection).")


# The grid's options, shared by `run` and `plan` (a plan is of the run the same options describe).
CONFIG_OPTION = typer.Option(None, "--config", metavar="PATH", help="TOML file describing the run.")
DATA_OPTION = typer.Option(None, "--data", metavar="TEXT", help="Dataset path, or 'synthetic'.")
METHODS_OPTION = typer.Option(None, "--methods", metavar="TEXT",
                              help="Comma-separated method names (default: all; see `angiobench methods list`).")
RATIOS_OPTION = typer.Option(None, "--ratios", metavar="TEXT", help="PT:FT ratios, e.g. 70:10,79:1 (default: the study's).")
SEEDS_OPTION = typer.Option(None, "--seeds", metavar="TEXT", help="Base seeds, e.g. 0,1,2 (at least 3 for a verdict).")
EXTERNAL_TEST_OPTION = typer.Option(None, "--external-test", metavar="TEXT", help=EXTERNAL_TEST_HELP)
EVALUATION_OPTION = typer.Option(None, "--evaluation", metavar="TEXT", help=(
    "finetune (the default) | frozen-encoder (the transferred encoder kept fixed, decoder and head trained: "
    "a probe of the representation) | both."))
PRETRAINED_OPTION = typer.Option(None, "--pretrained", metavar="TEXT",
                                 help=("Also fine-tune weights pre-trained elsewhere as contender NAME (NAME=PATH: a "
                                       "safetensors UNet state dict or an `angiobench export` folder; repeatable)."))
# How the jobs run, shared by `run` and `plan` (which estimates for as many jobs at once).
DEVICES_OPTION = typer.Option(None, "--devices", metavar="TEXT", help="GPU indices, e.g. 0,1.")
JOBS_PER_DEVICE_OPTION = typer.Option(1, "--jobs-per-device", metavar="N", help="Concurrent jobs per GPU.")
CPU_WORKERS_OPTION = typer.Option(0, "--cpu-workers", metavar="N",
                                  help="Concurrent jobs when there is no GPU (0: one per core, at most 4).")
PRECISION_OPTION = typer.Option("auto", "--precision", metavar="TEXT",
                                help="auto (bf16 on CUDA and CPUs with bf16 units) | " + " | ".join(PRECISIONS[1:]) + ".")
MASK_THRESHOLD_HELP = ("Binarise masks with grey values (anti-aliased) at T: vessel = value ≥ T (1–255; "
                       "without it such a mask is an error).")
MASK_THRESHOLD_OPTION = typer.Option(None, "--mask-threshold", metavar="T", help=MASK_THRESHOLD_HELP)



@app.command(cls=PlainHelpCommand)
def run(
    config: Optional[Path] = CONFIG_OPTION,
    data: Optional[str] = DATA_OPTION,
    methods: Optional[str] = METHODS_OPTION,
    ratios: Optional[str] = RATIOS_OPTION,
    seeds: Optional[str] = SEEDS_OPTION,
    profile: str = typer.Option("auto", "--profile", metavar="TEXT", help="auto | tiny | small | paper (auto: paper on CUDA, tiny otherwise)."),
    protocol: Optional[str] = typer.Option(None, "--protocol", metavar="TEXT", help="fair (equal budgets, the default) | study (published recipes)."),
    external_test: Optional[list[str]] = EXTERNAL_TEST_OPTION,
    pretrained: Optional[list[str]] = PRETRAINED_OPTION,
    mask_threshold: Optional[int] = MASK_THRESHOLD_OPTION,
    out: Optional[Path] = typer.Option(None, "--out", metavar="PATH", help="Run folder (default results/<data>-<profile>)."),
    executor: str = typer.Option("local", "--executor", metavar="TEXT", help="local | inline | slurm."),
    devices: Optional[str] = DEVICES_OPTION,
    jobs_per_device: int = JOBS_PER_DEVICE_OPTION,
    cpu_workers: int = CPU_WORKERS_OPTION,
    slurm_partition: str = typer.Option("", "--slurm-partition", metavar="TEXT", help="SLURM partition to submit to (default: the cluster's own)."),
    slurm_gpus_per_job: int = typer.Option(1, "--slurm-gpus-per-job", metavar="N", help="GPUs each SLURM job asks for."),
    slurm_cpus_per_job: int = typer.Option(8, "--slurm-cpus-per-job", metavar="N", help="CPU cores each SLURM job asks for."),
    slurm_time: int = typer.Option(240, "--slurm-time", metavar="N", help="Minutes per SLURM job."),
    slurm_cluster: str = typer.Option("slurm", "--slurm-cluster", metavar="TEXT", help="slurm, or 'local' to try it locally."),
    retry_failed: bool = typer.Option(False, "--retry-failed", metavar="", help="Run failed jobs again."),
    force: bool = typer.Option(False, "--force", metavar="", help="Delete the run folder and start again."),
    compile: bool = typer.Option(False, "--compile", metavar="", help="torch.compile each job's training step (pays on long GPU jobs)."),
    precision: str = PRECISION_OPTION,
    evaluation: Optional[str] = EVALUATION_OPTION,
    track: Optional[str] = typer.Option(None, "--track", metavar="TEXT", help="Publish each finished job's curves and scores: tensorboard, mlflow or both (comma-separated; pip install -e '.[tracking]')."),
    tracking_uri: str = typer.Option("", "--tracking-uri", metavar="URI", help="MLflow tracking URI (default: a file store in RUN/tracking/mlruns)."),
) -> None:
    """Run the benchmark grid (every method × ratio × seed); finished jobs are skipped on a re-run."""
    from benchmark.config.options import resolve_executor, resolve_run_config, run_request
    from benchmark.config.request import default_run_dir
    from benchmark.run.folder.store import finished_run

    with user_errors():
        asked = (config, data, methods, ratios, seeds, profile, protocol, external_test, pretrained, mask_threshold,
                 evaluation)
        request = run_request(*asked)
        exec_config = resolve_executor(
            executor, devices, jobs_per_device=jobs_per_device, cpu_workers=cpu_workers,
            slurm_partition=slurm_partition, slurm_gpus_per_job=slurm_gpus_per_job, slurm_cpus_per_job=slurm_cpus_per_job,
            slurm_time_min=slurm_time, slurm_cluster=slurm_cluster, compile=compile, precision=precision,
        )
        digest = request.digest()
        asked_dir = out or request.default_run_dir()
        done = None if force else finished_run(asked_dir, digest)
        if done is not None:  # the same request, every job done: answered from the folder, torch never imported
            if request.note:
                console.print(request.note)
            run_dir = asked_dir
            _print_outcome(run_dir, f"{run_dir}: 0 job(s) run, {len(done)} already done, 0 failed, 0 skipped in 0 s")
            return
        run_config, note = resolve_run_config(*asked)
        if note:
            console.print(note)
        run_dir = out or default_run_dir(run_config.data.source, run_config.profile)
        outcome = _run_with_progress(run_config, run_dir, exec_config, force, retry_failed,
                                     split_csv(track) or [], tracking_uri, digest)
        summary = outcome.summary
        _print_outcome(run_dir, f"{run_dir}: {len(summary.done)} job(s) run, {len(summary.already_done)} already done, "
                                f"{len(summary.failed)} failed, {len(summary.skipped)} skipped in {outcome.wall_time_s:.0f} s")
        if summary.interrupted:
            raise typer.Exit(130)
        if summary.failed or summary.skipped:
            raise typer.Exit(1)


def _run_with_progress(run_config: RunConfig, run_dir: Path, exec_config: ExecutorConfig, force: bool,
                       retry_failed: bool, track: list[str], tracking_uri: str, digest: str) -> RunOutcome:
    """runner.run_benchmark with a bar per job and one for the run (on a terminal), or one line per
    finished job (under tee, nohup or Slurm)."""
    from benchmark.run.execute import runner
    from benchmark.run.execute.tracking import TrackingConfig
    from benchmark.run.folder.joblog import RunClock, job_line

    terminal = console.is_terminal
    with _progress(disable=not terminal) as progress:
        jobs_task = progress.add_task("jobs", total=None, info="")
        job_bars: dict[str, int] = {}
        opened: dict[str, object] = {}  # the store and the clock, once the plan is made

        def on_open(store, jobs) -> None:
            todo = sum(store.state(j.key) != "done" for j in jobs)
            opened.update(store=store, clock=RunClock(len(jobs), len(jobs) - todo))
            progress.update(jobs_task, total=len(jobs), completed=len(jobs) - todo,
                            info=opened["clock"].progress_text())
            if not terminal:
                console.print(f"{run_dir}: {todo} of {len(jobs)} jobs to run", highlight=False)

        def on_event(event) -> None:
            if event.kind == "start":
                job_bars[event.job.key] = progress.add_task(f"  {event.job.label}", total=None, info="")
            elif event.kind == "progress" and event.job.key in job_bars:
                progress.update(job_bars[event.job.key], completed=event.done, total=event.total, info=event.message)
            elif event.kind in ("done", "failed", "skipped"):
                if event.job.key in job_bars:
                    progress.remove_task(job_bars.pop(event.job.key))
                clock = opened["clock"]
                clock.finish()
                progress.update(jobs_task, advance=1, info=clock.progress_text())
                if not terminal:
                    console.print(job_line(opened["store"], event.job, event.kind, event.message, clock),
                                  highlight=False, soft_wrap=True)
                elif event.kind != "done":
                    progress.console.print(f"[yellow]{event.kind}[/yellow] {event.job.label}: {event.message}")
            elif event.kind == "warning":
                progress.console.print(f"[yellow]warning[/yellow] {event.job.label}: {event.message}",
                                       highlight=False, soft_wrap=True)

        return runner.run_benchmark(run_config, run_dir, exec_config, force, retry_failed, on_event,
                                    _bar_callback(progress, "data"), TrackingConfig(tuple(track), tracking_uri),
                                    digest, on_open)


def _print_outcome(run_dir: Path, line: str) -> None:
    """The run's one-line outcome, its mean test Dice per method and ratio (per test set), and its report."""
    from benchmark.data.external import IN_DOMAIN
    from benchmark.run.folder.store import summary_tables

    console.print(line)
    tables = summary_tables(run_dir)
    for name, table in tables.items():
        if name != IN_DOMAIN:
            console.print(f"external test set {name} (scored only, never selected on):", highlight=False)
        _print_frame(table.reset_index(), "mean test Dice" if name == IN_DOMAIN else "mean Dice")
    if tables:
        from reports import build_report

        console.print(f"report: {build_report(run_dir).index_html}")


@app.command(cls=PlainHelpCommand)
def finetune(
    data: str = typer.Option("synthetic", "--data", metavar="TEXT", help="Dataset path, or 'synthetic'."),
    ft_ratio: float = typer.Option(10.0, "--ft-ratio", metavar="NUMBER", help="Percent of the dataset used as labels."),
    seed: int = typer.Option(0, "--seed", metavar="N", help="Base seed of the run (its jobs derive their own from it)."),
    profile: str = typer.Option("auto", "--profile", metavar="TEXT", help="auto | tiny | small | paper."),
    config: Optional[Path] = typer.Option(None, "--config", metavar="PATH", help="TOML file (data, pre-processing, recipe)."),
    mask_threshold: Optional[int] = MASK_THRESHOLD_OPTION,
    out: Path = typer.Option(Path("results/finetune"), "--out", metavar="PATH", help="Folder for the run and rows.parquet."),
    force: bool = typer.Option(False, "--force", metavar="", help="Delete the folder and start again."),
) -> None:
    """Fine-tune the supervised baseline (no pre-training) and evaluate it on the test split."""
    from benchmark.run.execute import runner
    from benchmark.config.options import resolve_run_config
    from benchmark.run.folder.store import METRIC_COLUMNS

    with user_errors():
        if not 0 < ft_ratio <= 100:
            raise BenchmarkError(f"--ft-ratio {ft_ratio:g} is not in 0–100")
        run_config, note = resolve_run_config(config, data, "supervised", f"0:{ft_ratio:g}", str(seed), profile,
                                              mask_threshold=mask_threshold)
        if note:
            console.print(note)
        with _progress() as progress:
            bar = _bar_callback(progress, "fine-tuning")
            rows = runner.run_single_finetune(run_config, out, ft_ratio, seed, force,
                                       lambda e: bar(e.done, e.total, e.message) if e.kind == "progress" else None,
                                       _bar_callback(progress, "data"))
        summary = rows[METRIC_COLUMNS].agg(["mean", "std"]).T.reset_index(names="metric")
        _print_frame(summary, f"supervised, FT {ft_ratio:g} %, seed {seed}: {len(rows)} test images")
        console.print(f"rows: {out / 'rows.parquet'}")


@app.command(cls=PlainHelpCommand)
def plan(
    config: Optional[Path] = CONFIG_OPTION,
    data: Optional[str] = DATA_OPTION,
    methods: Optional[str] = METHODS_OPTION,
    ratios: Optional[str] = RATIOS_OPTION,
    seeds: Optional[str] = SEEDS_OPTION,
    profile: str = typer.Option("auto", "--profile", metavar="TEXT", help="auto | tiny | small | paper."),
    protocol: Optional[str] = typer.Option(None, "--protocol", metavar="TEXT", help="fair | study."),
    external_test: Optional[list[str]] = EXTERNAL_TEST_OPTION,
    mask_threshold: Optional[int] = MASK_THRESHOLD_OPTION,
    pretrained: Optional[list[str]] = PRETRAINED_OPTION,
    evaluation: Optional[str] = EVALUATION_OPTION,
    out: Optional[Path] = typer.Option(None, "--out", metavar="PATH", help="Run folder whose finished jobs to measure by (default: the run's own)."),
    devices: Optional[str] = DEVICES_OPTION,
    jobs_per_device: int = JOBS_PER_DEVICE_OPTION,
    cpu_workers: int = CPU_WORKERS_OPTION,
    precision: str = PRECISION_OPTION,
    tflops: Optional[float] = typer.Option(None, "--tflops", metavar="NUMBER", help="Sustained TFLOP/s to assume instead of measuring."),
    speed: Optional[Path] = typer.Option(None, "--speed", metavar="PATH", help="Speed report (angiobench speed --json): use its measured images/s per method instead."),
    jobs: bool = typer.Option(False, "--jobs", metavar="", help="List every job, not only the totals."),
) -> None:
    """The jobs a run would do, which are already done, and how long the rest should take. Trains
    nothing but a probe: a few timed steps, for the kinds of job no finished one has measured."""
    from benchmark.run.execute import runner
    from benchmark.run.execute.executors import job_threads, plan_slots
    from benchmark.config.options import resolve_executor, resolve_run_config
    from benchmark.config.request import default_run_dir
    from benchmark.speed.planning import PlanRequest, plan_cost, this_machine
    from benchmark.train.device import DeviceOptions

    with user_errors():
        machine = this_machine()  # before the probe adds to the load
        run_config, note = resolve_run_config(config, data, methods, ratios, seeds, profile, protocol, external_test,
                                                pretrained, mask_threshold, evaluation)
        if note:
            console.print(note)
        executor = resolve_executor("local", devices, jobs_per_device=jobs_per_device, cpu_workers=cpu_workers,
                                    precision=precision)
        slots = plan_slots(executor)
        device = DeviceOptions(device="cuda" if slots[0].gpu is not None else "cpu", bf16=executor.bf16())
        request = PlanRequest(tflops, speed, len(slots), job_threads(executor, slots), device)
        run_dir = out or default_run_dir(run_config.data.source, run_config.profile)
        store, job_list, _, extra_count = runner.plan_run(run_config, run_dir)
        planned = plan_cost(job_list, run_config, extra_count, store, request, machine)
        if jobs:
            _print_frame(planned.jobs.drop(columns=["job_key"]), "jobs")
        _print_frame(planned.by_kind(), f"estimated time ({planned.basis})")
        for line in planned.notes:
            console.print(line, highlight=False, soft_wrap=True)
        if planned.warning:
            console.print(f"[yellow]warning:[/yellow] {planned.warning}", highlight=False, soft_wrap=True)
        console.print(planned.summary(), highlight=False)


@app.command(cls=PlainHelpCommand)
def calibrate(
    data: str = typer.Option(..., "--data", metavar="TEXT", help="Labelled dataset to calibrate on (e.g. ../shared/datasets/arcade), or 'synthetic'."),
    grid: Optional[Path] = typer.Option(None, "--grid", metavar="PATH", help=escape("TOML file of [[setting]] tables (default: the built-in study).")),
    settings: Optional[str] = typer.Option(None, "--settings", metavar="TEXT", help="Comma-separated names of the grid's settings to run (default: all)."),
    config: Optional[Path] = typer.Option(None, "--config", metavar="PATH", help="TOML file for everything a setting does not change."),
    ratios: str = typer.Option("79:1,70:10", "--ratios", metavar="TEXT", help="PT:FT ratios: the smallest FT share and a larger one."),
    seeds: str = typer.Option("100,101,102,103,104", "--seeds", metavar="TEXT",
                              help="Seeds per setting (at least 3 for a verdict; by default none a run uses by default)."),
    profile: str = typer.Option("tiny", "--profile", metavar="TEXT", help="The profile a setting starts from: tiny | small | paper."),
    test_split: str = typer.Option("apart", "--test-split", metavar="TEXT",
                                   help="apart (leave out the images a run tests on, test on 20 % of the rest) | random "
                                        "(a seeded 20 % split) | dataset (its own)."),
    mask_threshold: Optional[int] = MASK_THRESHOLD_OPTION,
    out: Path = typer.Option(Path("results/calibration"), "--out", metavar="PATH", help="Folder: one run per setting, and the table."),
    cpu_workers: int = CPU_WORKERS_OPTION,
    precision: str = PRECISION_OPTION,
) -> None:
    """Supervised against the positive control for each setting of a shared budget: can the set-up see?"""
    from benchmark.calibration.settings import DEFAULT_GRID, load_grid, select
    from benchmark.calibration.study import run_calibration, write_calibration
    from benchmark.config.options import resolve_executor, resolve_run_config
    from benchmark.train.hardware import cpu_model

    with user_errors():
        if test_split not in ("apart", "random", "dataset"):
            raise BenchmarkError(f"--test-split {test_split!r} is not one of apart, random, dataset")
        chosen = select(load_grid(grid) if grid else DEFAULT_GRID, split_csv(settings) if settings else None)
        base, _ = resolve_run_config(config, data, "supervised,control-oracle", ratios, seeds, profile, "fair",
                                     mask_threshold=mask_threshold)
        executor = resolve_executor("local", None, cpu_workers=cpu_workers, precision=precision)
        with _progress() as progress:
            results = run_calibration(
                base, chosen, out, executor, test_split,
                on_setting=lambda s, n, total: progress.console.print(f"setting {n + 1}/{total}: {s.name}"),
                progress_for=lambda s: _bar_callback(progress, f"data ({s.name})"))
        table, paths = write_calibration(results, out, cpu_model())
        _print_frame(table.data[["setting", "gain", "p", "mdd", "detected", "curve", "contender_mdd", "curve_exceeds_mdd",
                                 "job_cpu_s"]], table.title)
        console.print(f"table: {', '.join(str(p) for p in paths)}")


@app.command(cls=PlainHelpCommand)
def speed(
    methods: str = typer.Option("all", "--methods", metavar="TEXT", help="Comma-separated methods, 'all', or 'none' (fine-tuning only)."),
    size: Optional[int] = typer.Option(None, "--size", metavar="N", help="Image side in pixels (default: 256 on CUDA, 64 on a CPU)."),
    batch: Optional[int] = typer.Option(None, "--batch", metavar="N", help="Batch (default: 32 on CUDA, 16 on a CPU)."),
    base: Optional[int] = typer.Option(None, "--base", metavar="N", help="UNet base width (default: 64 on CUDA, 8 on a CPU)."),
    steps: int = typer.Option(20, "--steps", metavar="N", help="Steps per timed block."),
    warmup: int = typer.Option(3, "--warmup", metavar="N", help="Untimed steps before timing each path."),
    repeats: int = typer.Option(3, "--repeats", metavar="N", help="Timed blocks per path, taken in turn; the median is kept."),
    device: str = typer.Option("auto", "--device", metavar="TEXT", help="auto | cuda | cpu."),
    compile: bool = typer.Option(False, "--compile", metavar="", help="torch.compile the harness's training steps."),
    jobs: Optional[str] = typer.Option(None, "--jobs", metavar="TEXT", help="Also time k concurrent tiny fine-tuning jobs, e.g. 1,2,4."),
    metrics: bool = typer.Option(False, "--metrics", metavar="", help="Time the metrics against the contour reference (alone, unless --training)."),
    training: Optional[bool] = typer.Option(None, "--training/--no-training", metavar="", help="Time the training steps (default: yes, unless --metrics)."),
    json_path: Optional[Path] = typer.Option(None, "--json", metavar="PATH", help="Write the report to this JSON file."),
) -> None:
    """Images/s of the harness's training steps against a plain fp32 DataLoader loop, on this machine."""
    from benchmark.speed.measure import SpeedRequest, check_request, time_request

    with user_errors():
        counts = split_csv(jobs) or []
        if not all(k.isdigit() and int(k) > 0 for k in counts):
            raise BenchmarkError(f"--jobs {jobs!r}: give job counts such as 1,2,4")
        request = SpeedRequest(methods=methods, size=size, batch=batch, base=base, steps=steps, warmup=warmup,
                               repeats=repeats, device=device, compile=compile, jobs=tuple(int(k) for k in counts),
                               metrics=metrics, training=training)
        sizes = check_request(request)
        if request.times_training and sizes.note():
            console.print(sizes.note(), highlight=False)
        with _progress() as progress:
            report = time_request(request, _bar_callback(progress, "timing"))
        for title, frame in report.tables():
            _print_frame(frame, title)
        if json_path:
            report.to_json(json_path)
            console.print(f"report: {json_path}")


@app.command(cls=PlainHelpCommand)
def report(
    run_dir: Path = typer.Argument(..., help="A run folder (complete or still running)."),
    ratio: Optional[str] = typer.Option(None, "--ratio", metavar="TEXT", help="Ratio of Table I (default: smallest FT share)."),
    method: Optional[str] = typer.Option(None, "--method", metavar="TEXT", help="Method of the diameter figure."),
    out: Optional[Path] = typer.Option(None, "--out", metavar="PATH", help="Output folder (default RUN_DIR/report)."),
    format: str = typer.Option("png,pdf", "--format", metavar="TEXT", help="Figure formats, e.g. png,pdf."),
) -> None:
    """The study's figures and tables and one self-contained HTML page, from the run's rows."""
    from reports import build_report, summary_lines

    with user_errors():
        result = build_report(run_dir, out, ratio, method, tuple(split_csv(format) or ["png"]))
        for line in summary_lines(result):
            console.print(line, highlight=False)


@app.command(cls=PlainHelpCommand)
def status(run_dir: Path = typer.Argument(..., help="A run folder.")) -> None:
    """Done / running / failed / pending per job, and the error of each failed one."""
    from benchmark.run.folder.store import load_jobs

    with user_errors():
        jobs = load_jobs(run_dir)
        counts = jobs["state"].value_counts().to_dict()
        console.print(", ".join(f"{n} {state}" for state, n in sorted(counts.items())) or "no jobs yet")
        _print_frame(jobs[["job_key", "kind", "method", "ratio", "seed", "state", "wall_time_s"]].fillna(""), "jobs")
        for _, job in jobs[jobs["state"].isin(["failed", "skipped"])].iterrows():
            console.print(f"[red]{job['state']}[/red] {job['job_key']}: {job['error']}", highlight=False)


@app.command(cls=PlainHelpCommand)
def export(
    run_dir: Path = typer.Argument(..., help="A finished run folder."),
    out: Path = typer.Argument(..., help="New folder for the weights and the model card."),
    method: str = typer.Option(..., "--method", metavar="TEXT", help="The method whose UNet to export."),
    ratio: Optional[str] = typer.Option(None, "--ratio", metavar="TEXT", help="Also export the UNet fine-tuned at this PT:FT ratio."),
    seed: Optional[int] = typer.Option(None, "--seed", metavar="N", help="The run's seed (needed when it has several)."),
) -> None:
    """The pre-trained (and with --ratio, fine-tuned) UNet as safetensors, with a model card."""
    from benchmark.export import ExportChoice, export_model

    with user_errors():
        result = export_model(run_dir, ExportChoice(method, ratio, seed), out)
        card = result.card
        for name in (card.pretrained_file, card.finetuned_file):
            if name:
                console.print(f"wrote {result.root / name}", highlight=False)
        if card.test:
            console.print(f"test Dice {card.test.means.get('dice', float('nan')):.4f} over {card.test.images} images",
                          highlight=False)
        console.print(f'load it with: from benchmark.export import load_unet; unet, card = load_unet("{result.root}")',
                      highlight=False)


@app.command(cls=PlainHelpCommand)
def predict(
    images: list[Path] = typer.Argument(..., help="Image files or folders of images (8-bit grey)."),
    weights: Path = typer.Option(..., "--weights", metavar="PATH", help="A folder written by `angiobench export --ratio`."),
    out: Path = typer.Option(..., "--out", metavar="PATH", help="New folder for masks/, overlays/ and predictions.csv."),
    masks: Optional[Path] = typer.Option(None, "--masks", metavar="PATH", help="Folder of ground-truth masks: also score them."),
    mask_threshold: Optional[int] = typer.Option(None, "--mask-threshold", metavar="T",
                                                 help="With --masks: " + MASK_THRESHOLD_HELP),
    batch_size: int = typer.Option(16, "--batch-size", metavar="N", help="Images per forward pass (lower it if memory runs out)."),
    device: str = typer.Option("auto", "--device", metavar="TEXT", help=" | ".join(DEVICES) + "."),
) -> None:
    """Segment angiograms with an exported UNet, pre-processed as in training."""
    from benchmark.export.predict import PredictOptions, resolve_inputs, write_predictions

    with user_errors():
        if device not in DEVICES:
            raise BenchmarkError(f"--device {device!r}: expected {', '.join(DEVICES[:-1])} or {DEVICES[-1]}")
        options = PredictOptions(device=device, batch_size=batch_size, masks=masks, mask_threshold=mask_threshold)
        inputs = resolve_inputs(weights, images, options)
        with _progress() as progress:
            summary = write_predictions(inputs, out, options, _bar_callback(progress, "predicting"))
        console.print(f"wrote {len(summary.table)} masks and overlays and predictions.csv to {summary.root}",
                      highlight=False)
        if masks is not None:
            console.print(f"mean Dice {summary.table['dice'].mean():.4f}", highlight=False)


@data_app.command("synth", cls=PlainHelpCommand)
def data_synth(
    out: Path = typer.Argument(..., help="Folder to write imgs/ and masks/ into."),
    n: int = typer.Option(200, "--n", metavar="N", help="Number of images."),
    size: int = typer.Option(256, "--size", metavar="N", help="Image side in pixels."),
    seed: int = typer.Option(0, "--seed", metavar="N", help="Base seed of the run (its jobs derive their own from it)."),
) -> None:
    """Write synthetic angiograms in the folder layout (imgs/ + masks/)."""
    from benchmark.data.synthetic import write_synthetic

    with user_errors():
        if n < 1 or size < 32:
            raise BenchmarkError("--n must be ≥ 1 and --size ≥ 32")
        path = write_synthetic(out, n, size, seed)
        console.print(f"wrote {n} images of {size}×{size} to {path}")


@data_app.command("inspect", cls=PlainHelpCommand)
def data_inspect(
    path: Path = typer.Argument(..., help="Dataset folder."),
    format: str = typer.Option(AUTO, "--format", metavar="TEXT", help=" | ".join((AUTO, *format_names())) + "."),
    mask_threshold: Optional[int] = MASK_THRESHOLD_OPTION,
) -> None:
    """Count, sizes, vessel fraction and every problem found in a dataset (and, with --mask-threshold,
    which masks were binarised)."""
    from benchmark.data.images import check_mask_threshold
    from benchmark.data.inspection import inspect_dataset

    with user_errors():
        check_mask_threshold(mask_threshold, "--mask-threshold")
        report = inspect_dataset(path, format, mask_threshold)
        for line in report.lines():
            console.print(line, highlight=False)
        if not report.ok:
            raise typer.Exit(1)


@data_app.command("export-nnunet", cls=PlainHelpCommand)
def data_export_nnunet(
    run_dir: Path = typer.Argument(..., help="A run folder (config.toml, splits.json, data/prepared.npz)."),
    out: Path = typer.Argument(..., help="New folder, e.g. $nnUNet_raw/Dataset501_Angio."),
) -> None:
    """The run's images, masks and fine-tuning splits in nnU-Net raw format (docs/export.md)."""
    from benchmark.export.nnunet import export_nnunet

    with user_errors():
        export = export_nnunet(run_dir, out)
        console.print(f"wrote {export.train_cases} training and {export.test_cases} test cases to {export.root}",
                      highlight=False)
        for fold in export.folds:
            console.print(f"fold {fold.fold}: ratio {fold.ratio} ({fold.train} train, {fold.val} val)", highlight=False)
        console.print("copy splits_final.json into nnUNet_preprocessed/<dataset>/ before training", highlight=False)


@methods_app.command("list", cls=PlainHelpCommand)
def methods_list(
    profile: str = typer.Option("auto", "--profile", metavar="TEXT",
                                help="auto | tiny | small | paper: count parameters at this profile's UNet "
                                     "(auto: paper where an NVIDIA GPU is visible, tiny otherwise)."),
    config: Optional[Path] = typer.Option(None, "--config", metavar="PATH",
                                          help="TOML file of a run: count parameters at its UNet."),
    pretrain_params: bool = typer.Option(False, "--pretrain-params", metavar="",
                                         help="Also count each method's parameters during pre-training (heads, "
                                              "momentum copies): builds every method, so imports torch (seconds)."),
) -> None:
    """Each method: description, what transfers, and the parameters of the UNet it fine-tunes.

    Read without importing torch (about a second); --pretrain-params builds every method to count
    what it pre-trains too."""
    from benchmark.config.profiles import profile_image_size, profile_unet
    from benchmark.train.method_info import describe_methods

    with user_errors():
        chosen, unet = profile_unet(config, profile)
        size = profile_image_size(config, profile)
        rows = describe_methods(unet, chosen, pretrain_params, size)
        _print_table(list(rows[0]) if rows else [], [list(row.values()) for row in rows],
                     f"methods ({chosen} profile: {size}-px images, parameters at UNet base width {unet.base}, "
                     f"depth {unet.depth})")
        if not pretrain_params:
            console.print("finetune_M: the UNet every method fine-tunes; pre-training adds a method's heads and "
                          "momentum copies (--pretrain-params counts them)", highlight=False, soft_wrap=True)


@methods_app.command("check", cls=PlainHelpCommand)
def methods_check(name: str = typer.Argument(..., help="A registered method name.")) -> None:
    """Run the method contract on tiny data and report each check."""
    from benchmark.train.contract import run_contract
    from methods import registry

    with user_errors():
        known = registry()
        if name not in known:
            raise BenchmarkError(f"unknown method {name!r}{did_you_mean(name, known)}; known methods: {', '.join(known)}")
        results = run_contract(known[name])
        for result in results:
            mark = "[green]pass[/green]" if result.passed else "[red]FAIL[/red]"
            console.print(f"{mark} {result.name}: {result.detail}", highlight=False)
        if not all(r.passed for r in results):
            raise typer.Exit(1)
