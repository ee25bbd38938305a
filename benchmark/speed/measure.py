"""How fast the harness trains, measured side by side with a plain training loop on one machine.

For the fine-tuning step and each method's pre-training step: images/s of
(a) the harness's own code, `benchmark.train.loops.finetune` / `pretrain` themselves (data resident on
    the device, augmentation batched on the device, bf16 autocast + channels_last where the device
    computes bf16 natively, fused Adam(W) on CUDA, the losses read back once, at the end of the
    timed call), and
(b) the plain loop of `benchmark.speed.reference_loop` (fp32, DataLoader, CPU augmentation, `.item()`),
one after the other in this process, each after its own warm-up, the device synchronised around
every timed block. FLOPs per image are counted (benchmark.speed.cost), which turns images/s into TFLOP/s
and a share of the matmul peak measured in the same run. Tables and JSON: benchmark.speed_report.
"""

from __future__ import annotations

import copy
import gc
import multiprocessing as mp
import os
import queue
import time
from dataclasses import dataclass, replace
from typing import Callable, Literal, Sequence

import numpy as np
import torch
from numpy.typing import NDArray

from benchmark.config.run_config import profile_defaults
from benchmark.core.progress import Progress
from benchmark.train.flops import training_flops_per_image
from benchmark.data.preprocess import zscore
from benchmark.data.synthetic import synthetic_dataset
from benchmark.core.errors import BenchmarkError
from benchmark.train.hardware import device_name
from benchmark.evaluate.metrics import METRIC_KEYS, segmentation_metrics
from benchmark.evaluate.reference import compare_metric_speed, reference_segmentation_metrics, vessel_like_pair
from benchmark.model.unet import UNet, UNetConfig
from benchmark.speed.reference_loop import PlainLoop, plain_finetune_loop, plain_pretrain_loop
from benchmark.speed.report import FINETUNE, ConcurrencyRow, MetricSpeed, SpeedReport, SpeedRow
from benchmark.model.recipes import TINY_PRETRAIN_RECIPE, FinetuneRecipe, PretrainRecipe
from benchmark.train.device import DeviceOptions
from benchmark.train.loops import TensorSet, finetune, pretrain
from methods import registry
from methods.base import Profile, SSLMethod

DeviceChoice = Literal["auto", "cuda", "cpu"]


@dataclass(frozen=True)
class Window:
    """One timed block: images trained, and wall-clock start and end (time.time, comparable across processes)."""

    images: int
    start: float
    end: float

    @property
    def images_per_second(self) -> float:
        return self.images / (self.end - self.start)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(call: Callable[[], object], device: torch.device, images: int) -> Window:
    """Run `call` between two device synchronisations: nothing queued before or left after counts."""
    synchronize(device)
    start = time.time()
    call()
    synchronize(device)
    return Window(images, start, time.time())


def resolve_device(device: str) -> torch.device:
    if device not in ("auto", "cuda", "cpu"):
        raise BenchmarkError(f"--device {device!r} is not one of auto, cuda, cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise BenchmarkError("--device cuda: no CUDA device is available here")
    return torch.device("cuda" if device == "cuda" or (device == "auto" and torch.cuda.is_available()) else "cpu")


def matmul_tflops(device: torch.device, dtype: torch.dtype, n: int, per_block: int, blocks: int) -> float:
    """TFLOP/s of n×n by n×n matmuls in `dtype`, the best of `blocks` timed blocks of `per_block`
    matmuls: a peak is what the device can do, and other work on it only ever slows a block down."""
    a, b = (torch.randn(n, n, device=device).to(dtype) for _ in range(2))
    a @ b
    windows = [timed(lambda: [a @ b for _ in range(per_block)], device, 0) for _ in range(blocks)]
    return 2 * n**3 * per_block / min(w.end - w.start for w in windows) / 1e12


def measure_peaks(device: torch.device, size: int | None = None) -> dict[str, float]:
    """bf16 and fp32 matmul peaks: 8192² matmuls on CUDA; 768² on a CPU, where bf16 can be very slow."""
    n, per_block = (size or 8192, 20) if device.type == "cuda" else (size or 768, 1)
    return {name: matmul_tflops(device, dtype, n, per_block, blocks=5)
            for name, dtype in (("bf16", torch.bfloat16), ("fp32", torch.float32))}


def method_names(methods: str | Sequence[str]) -> list[str]:
    """'all' → every pre-training method; 'none' → none (fine-tuning only); else the names, checked."""
    known = [name for name, cls in registry().items() if cls.pretrains]
    if isinstance(methods, str):
        methods = known if methods == "all" else [] if methods == "none" else [m.strip() for m in methods.split(",")]
    unknown = [m for m in methods if m not in known]
    if unknown:
        raise BenchmarkError(f"--methods: {', '.join(unknown)} is not a pre-training method; known: {', '.join(known)}")
    return list(methods)


def check_sizes(size: int, batch: int, base: int, steps: int, warmup: int) -> None:
    if size < 32 or size % 16:
        raise BenchmarkError(f"--size {size}: must be a multiple of 16, at least 32")
    for option, value, least in (("--batch", batch, 2), ("--base", base, 1), ("--steps", steps, 1), ("--warmup", warmup, 1)):
        if value < least:
            raise BenchmarkError(f"{option} {value}: must be at least {least}")


#: Batch of the CUDA default: the larger batch of the study's fine-tuning grid (16/32).
CUDA_BATCH = 32


@dataclass(frozen=True)
class SpeedSizes:
    """Image side, batch and UNet base width of the timed steps; `defaulted` names the options
    that took the device's defaults, and `basis` says where those come from."""

    size: int
    batch: int
    base: int
    defaulted: tuple[str, ...] = ()
    basis: str = ""

    def note(self) -> str | None:
        """The line saying which defaults were picked (None when every size was given)."""
        if not self.defaulted:
            return None
        given = {"--size": self.size, "--batch": self.batch, "--base": self.base}
        picked = " ".join(f"{option} {given[option]}" for option in self.defaulted)
        return f"{self.basis}: {picked}"


def default_sizes(device: torch.device) -> SpeedSizes:
    """On CUDA the study's sizes (paper profile: 256² px, base 64; batch CUDA_BATCH). Elsewhere the
    tiny profile's (64² px, base 8) at its pre-training batch (16): what `angiobench run` trains at
    on a CPU, and sized so a CPU finishes in a minute or two instead of the ~100× costlier 256² steps."""
    if device.type == "cuda":
        paper = profile_defaults("paper")
        return SpeedSizes(paper.preprocess.size or 256, CUDA_BATCH, paper.unet.base,
                          basis="CUDA device: the study's sizes (paper profile)")
    tiny = profile_defaults("tiny")
    return SpeedSizes(tiny.preprocess.size or 64, TINY_PRETRAIN_RECIPE.batch_size, tiny.unet.base,
                      basis="no CUDA device: CPU-sized defaults, the tiny profile's image side, UNet width and "
                            "pre-training batch")


def choose_sizes(device: torch.device, size: int | None = None, batch: int | None = None,
                 base: int | None = None) -> SpeedSizes:
    """The sizes given, the device's defaults (default_sizes) for those left None."""
    defaults = default_sizes(device)
    given = {"--size": size, "--batch": batch, "--base": base}
    return SpeedSizes(defaults.size if size is None else size, defaults.batch if batch is None else batch,
                      defaults.base if base is None else base,
                      tuple(option for option, value in given.items() if value is None), defaults.basis)


def image_pool(count: int, size: int) -> tuple[NDArray[np.uint8], NDArray[np.bool_]]:
    """`count` synthetic angiograms (uint8) and vessel masks: one batch's worth, drawn from again and again."""
    data = synthetic_dataset(count, size, seed=0)
    images, masks = zip(*(data[i] for i in range(count)))
    return np.stack(images), np.stack(masks)


def zscored(images: NDArray[np.uint8]) -> NDArray[np.float32]:
    """The pool as the harness holds its data: pre-processed (z-scored) floats, N×H×W."""
    return np.stack([zscore(image) for image in images])


def _release(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


Timer = Callable[[], Window]


def harness_finetune_timer(
    unet: UNet, images: NDArray[np.uint8], masks: NDArray[np.bool_], steps: int, warmup: int, options: DeviceOptions
) -> tuple[Timer, float | None]:
    """Warm `finetune` up with a `warmup`-step call; return a timer of `steps`-step calls, and the
    first step's seconds when compiling. Validation runs on one image: one forward pass per call."""
    batch = len(images)
    pool = TensorSet.from_numpy(zscored(images), masks, str(options.torch_device))
    recipe = FinetuneRecipe(batch_size=batch, epochs=1)

    def run(n: int) -> list[dict[str, float]]:
        return finetune(unet, pool, pool.subset([0]), replace(recipe, min_samples_per_epoch=n * batch), options, 0).history

    compile_s = run(warmup)[0].get("compile_s")
    return lambda: timed(lambda: run(steps), options.torch_device, steps * batch), compile_s


def harness_pretrain_timer(
    method: SSLMethod, images: NDArray[np.uint8], steps: int, warmup: int, options: DeviceOptions,
    recipe: PretrainRecipe, masks: NDArray[np.bool_] | None = None,
) -> tuple[Timer, float | None]:
    """As harness_finetune_timer, for `pretrain` with `recipe`'s optimiser: one epoch is one batch,
    so n epochs are n steps. `masks` reach a method that pre-trains on labels (the positive control)."""
    pool = torch.from_numpy(zscored(images))[:, None].to(options.torch_device)
    labels = None if masks is None else torch.from_numpy(masks)[:, None].float()
    recipe = replace(recipe, batch_size=len(images), steps=0, warmup_epochs=0, warmup_steps=0)

    def run(n: int) -> list[dict[str, float]]:
        return pretrain(method, pool, replace(recipe, epochs=n), options, 0, masks=labels)

    compile_s = run(warmup)[0].get("compile_s")
    return lambda: timed(lambda: run(steps), options.torch_device, steps * len(images)), compile_s


def plain_timer(loop: PlainLoop, batch: int, steps: int, warmup: int, device: torch.device) -> Timer:
    loop.run(warmup)
    return lambda: timed(lambda: loop.run(steps), device, steps * batch)


def median_rates(harness: Timer, plain: Timer, repeats: int,
                 starting: Callable[[str], None] = lambda _: None) -> tuple[float, float]:
    """Median images/s of each path over `repeats` timed blocks, taken in turn (harness, plain, …),
    so a slow spell of a shared machine hits both paths alike; `starting` hears of each block."""
    rates = []
    for block in range(1, repeats + 1):
        starting(f"harness, timed block {block}/{repeats}")
        fast = harness().images_per_second
        starting(f"plain loop, timed block {block}/{repeats}")
        rates.append((fast, plain().images_per_second))
    return float(np.median([h for h, _ in rates])), float(np.median([p for _, p in rates]))


def announcer(progress: Progress | None, total: int, first: int = 0) -> Callable[[str], None]:
    """`starting(message)`: one more unit of work begins (the one before it has ended), as
    progress(done, total, message); nothing without a callback."""
    done = first - 1

    def starting(message: str) -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total, message)

    return starting


def training_units(methods: int, repeats: int) -> int:
    """Units of work `measure_speed` reports: per row two warm-ups and 2·repeats timed blocks, then the peaks."""
    return (1 + methods) * (2 + 2 * repeats) + 1


def default_loader_workers(device: torch.device) -> int:
    """DataLoader workers of the plain loop: 4 on CUDA (a usual setting); none on a CPU, where
    workers would take cores from the training step they feed."""
    return min(4, max(1, (os.cpu_count() or 2) - 1)) if device.type == "cuda" else 0


def measure_speed(
    methods: str | Sequence[str] = "all",
    size: int | None = None,
    batch: int | None = None,
    base: int | None = None,
    steps: int = 20,
    device: DeviceChoice = "auto",
    warmup: int = 3,
    compile: bool = False,
    repeats: int = 3,
    profile: Profile = "paper",
    loader_workers: int | None = None,
    peak_size: int | None = None,
    progress: Progress | None = None,
    total_units: int | None = None,
) -> SpeedReport:
    """Images/s of the harness and of the plain loop for fine-tuning and each method's pre-training.

    Sizes left None take the device's defaults (choose_sizes). `progress` hears of each warm-up and
    timed block (training_units of them, the first ones of `total_units` when a caller counts more).
    Every row starts both loops from the same initial weights (torch seed 0) and the same images;
    methods use their `profile` settings. Each path is timed `repeats` times, in turn with the
    other, and its median kept. The share of peak is taken against the matmul peak of the
    precision the harness computes in here (bf16 on CUDA and on CPUs with native bf16, else fp32).
    """
    names = method_names(methods)
    dev = resolve_device(device)
    sizes = choose_sizes(dev, size, batch, base)
    size, batch, base = sizes.size, sizes.batch, sizes.base
    check_sizes(size, batch, base, steps, warmup)
    if repeats < 1:
        raise BenchmarkError(f"--repeats {repeats}: must be at least 1")
    total = training_units(len(names), repeats) if total_units is None else total_units
    starting = announcer(progress, total)
    options = DeviceOptions(device=str(dev), log_every=warmup + steps, compile=compile)
    workers = default_loader_workers(dev) if loader_workers is None else loader_workers
    images, masks = image_pool(batch, size)
    config = UNetConfig(base=base)

    batches = warmup + repeats * steps  # batches each plain loop draws

    torch.manual_seed(0)
    initial = UNet(config)
    starting(f"{FINETUNE}: harness warm-up")
    harness, compile_s = harness_finetune_timer(copy.deepcopy(initial), images, masks, steps, warmup, options)
    loop = plain_finetune_loop(copy.deepcopy(initial), images, masks, batch, batches, dev, workers)
    starting(f"{FINETUNE}: plain loop warm-up")
    plain = plain_timer(loop, batch, steps, warmup, dev)
    rates = median_rates(harness, plain, repeats, lambda block: starting(f"{FINETUNE}: {block}"))
    rows = [SpeedRow(FINETUNE, training_flops_per_image(None, config, size), *rates, compile_s)]
    del harness, loop
    _release(dev)
    for name in names:
        cls = registry()[name]
        torch.manual_seed(0)
        initial = cls(UNet(config), cls.default_config(profile))
        starting(f"{name}: harness warm-up")
        recipe = replace(cls.default_recipe(profile), batch_size=batch)
        harness, compile_s = harness_pretrain_timer(copy.deepcopy(initial), images, steps, warmup, options, recipe,
                                                    masks if cls.uses_labels else None)
        loop = plain_pretrain_loop(copy.deepcopy(initial), images, recipe, batches, dev, workers,
                                   masks=masks if cls.uses_labels else None)
        starting(f"{name}: plain loop warm-up")
        plain = plain_timer(loop, batch, steps, warmup, dev)
        rates = median_rates(harness, plain, repeats, lambda block, name=name: starting(f"{name}: {block}"))
        rows.append(SpeedRow(name, training_flops_per_image(name, config, size), *rates, compile_s))
        del harness, loop
        _release(dev)
    starting("matmul peaks (bf16, fp32)")
    peaks = measure_peaks(dev, peak_size)
    if progress is not None and total_units is None:  # a caller counting more units ends the bar itself
        progress(total, total, "done")
    return SpeedReport(
        device=device_name(dev), device_type=dev.type, size=size, batch=batch, base=base, steps=steps,
        warmup=warmup, repeats=repeats, compile=compile, loader_workers=workers, threads=torch.get_num_threads(),
        peak_tflops=peaks, peak_dtype="bf16" if options.use_bf16 else "fp32", rows=tuple(rows),
    )


def aggregate_images_per_second(windows: Sequence[Window]) -> float:
    """Images of all jobs over the span from the first start to the last end."""
    return sum(w.images for w in windows) / (max(w.end for w in windows) - min(w.start for w in windows))


@dataclass(frozen=True)
class JobSettings:
    """One concurrent fine-tuning job (picklable: it crosses into a spawned process)."""

    size: int
    batch: int
    base: int
    steps: int
    warmup: int
    device: str


def _concurrent_job(settings: JobSettings, barrier, results) -> None:
    """Warm up, wait for the other jobs, then time `finetune` and send the window back."""
    device = torch.device(settings.device)
    if device.type == "cpu":
        torch.set_num_threads(1)
    images, masks = image_pool(settings.batch, settings.size)
    torch.manual_seed(0)
    options = DeviceOptions(device=settings.device, log_every=settings.warmup + settings.steps)
    timer, _ = harness_finetune_timer(UNet(UNetConfig(base=settings.base)), images, masks, settings.steps,
                                      settings.warmup, options)
    barrier.wait(timeout=600)
    results.put(timer())


def measure_concurrency(
    k_values: Sequence[int] = (1, 2, 4),
    size: int = 64,
    batch: int = 8,
    base: int = 8,
    steps: int = 20,
    warmup: int = 2,
    device: DeviceChoice = "auto",
) -> tuple[ConcurrencyRow, ...]:
    """Aggregate images/s of k concurrent tiny fine-tuning jobs, each in its own process, as
    `--jobs-per-device` runs them. On a CPU each job gets one thread, so k jobs use k cores.
    All k jobs warm up first and start their timed blocks together (a barrier)."""
    check_sizes(size, batch, base, steps, warmup)
    dev = resolve_device(device)
    context = mp.get_context("spawn")  # CUDA cannot be used in a forked child
    rows = []
    for k in k_values:
        if k < 1:
            raise BenchmarkError(f"--jobs {k}: must be at least 1")
        barrier, results = context.Barrier(k), context.Queue()
        settings = JobSettings(size, batch, base, steps, warmup, str(dev))
        processes = [context.Process(target=_concurrent_job, args=(settings, barrier, results)) for _ in range(k)]
        for process in processes:
            process.start()
        windows = [_next_result(results, processes) for _ in range(k)]
        for process in processes:
            process.join()
        rows.append(ConcurrencyRow(k, aggregate_images_per_second(windows),
                                   float(np.mean([w.images_per_second for w in windows])), sum(w.images for w in windows)))
    return tuple(rows)


def _next_result(results, processes: list) -> Window:
    """The next window sent back; a job that died instead is an error, not a hang."""
    while True:
        try:
            return results.get(timeout=1.0)
        except queue.Empty:
            failed = [p.exitcode for p in processes if p.exitcode not in (None, 0)]
            if failed:
                for process in processes:
                    process.kill()
                raise RuntimeError(f"a concurrent fine-tuning job exited with code {failed[0]}")


#: How closely the fast metrics must match the contour reference, as tests/test_metrics.py checks:
#: distances to pixel centres against sub-pixel contour vertices differ by a fraction of a pixel;
#: the overlap scores share one implementation and must be equal.
# The reference traces sub-pixel contours, the fast path uses boundary pixels: each boundary may sit
# up to half a pixel from its contour, so two boundaries' mean distances may differ by up to ~1 px.
# HD95 is a percentile on the steep tail of the distances (a missed vessel's far pixels), where the
# different point counts of contour vertices and boundary pixels move it by up to ~2.5 px on the
# 512² pair; NSD counts points within τ, and the vertex/pixel offset moves a few percent of them.
# Both equal their distance-transform definitions exactly (tests/test_metrics.py).
METRIC_TOLERANCE = {"dice": 0.0, "cldice": 0.0, "iou": 0.0, "hd": 1.0, "hd95": 3.0, "nsd": 0.05,
                    "add": 0.3, "diameter_pred": 0.3, "diameter_gt": 0.3}
_COMPARED = {"dice": ("dice",), "iou": ("iou",), "cldice": ("cldice",), "hd": ("hd",),
             "add": ("add", "diameter_pred", "diameter_gt"), "all": METRIC_KEYS}


def metrics_agree(fast: dict[str, float], reference: dict[str, float], keys: Sequence[str]) -> bool:
    return all(abs(fast[key] - reference[key]) <= METRIC_TOLERANCE[key] for key in keys)


def _max_difference(fast: dict[str, float], reference: dict[str, float], keys: Sequence[str]) -> float:
    return max(abs(fast[key] - reference[key]) for key in keys)


def measure_metric_speed(size: int = 512, repeats: int = 5, seed: int = 0) -> tuple[MetricSpeed, ...]:
    """`compare_metric_speed` (ms per pair, one core) with an `agree` column from the values themselves."""
    pred, gt = vessel_like_pair(size, seed)
    fast, reference = segmentation_metrics(pred, gt), reference_segmentation_metrics(pred, gt)
    return tuple(
        MetricSpeed(t.metric, t.fast_ms, t.reference_ms, metrics_agree(fast, reference, _COMPARED[t.metric]),
                    _max_difference(fast, reference, _COMPARED[t.metric]), size)
        for t in compare_metric_speed(size, repeats, seed)
    )


@dataclass(frozen=True)
class SpeedRequest:
    """What `angiobench speed` is asked to time. Sizes left None take the device's defaults;
    `training` None means: time training unless only the metrics are asked for (`--metrics`)."""

    methods: str | tuple[str, ...] = "all"
    size: int | None = None
    batch: int | None = None
    base: int | None = None
    steps: int = 20
    warmup: int = 3
    repeats: int = 3
    device: DeviceChoice = "auto"
    compile: bool = False
    jobs: tuple[int, ...] = ()
    metrics: bool = False
    training: bool | None = None

    @property
    def times_training(self) -> bool:
        return not self.metrics if self.training is None else self.training


def check_request(request: SpeedRequest) -> SpeedSizes:
    """Refuse a request that times nothing or concurrent jobs without training; the sizes it will use."""
    if not request.times_training and not request.metrics:
        raise BenchmarkError("--no-training leaves nothing to time: give --metrics to time the metrics alone")
    if request.jobs and not request.times_training:
        raise BenchmarkError("--jobs times concurrent training jobs: add --training to time them beside --metrics")
    if any(k < 1 for k in request.jobs):
        raise BenchmarkError(f"--jobs {','.join(map(str, request.jobs))}: job counts must be at least 1")
    sizes = choose_sizes(resolve_device(request.device), request.size, request.batch, request.base)
    check_sizes(sizes.size, sizes.batch, sizes.base, request.steps, request.warmup)
    return sizes


def time_request(request: SpeedRequest, progress: Progress | None = None) -> SpeedReport:
    """Everything `request` asks for, in one report: training steps (measure_speed), concurrent
    jobs, metrics. `progress` counts every warm-up and timed block, then one unit per other part."""
    sizes = check_request(request)
    training = request.times_training
    names = method_names(request.methods) if training else []
    total = (training_units(len(names), request.repeats) if training else 0) + bool(request.jobs) + request.metrics
    done = 0
    if training:
        report = measure_speed(names, size=sizes.size, batch=sizes.batch, base=sizes.base, steps=request.steps,
                               device=request.device, warmup=request.warmup, compile=request.compile,
                               repeats=request.repeats, progress=progress, total_units=total)
        done = training_units(len(names), request.repeats)
    else:  # metrics alone: they run on one CPU core whatever the training device
        report = SpeedReport(device=device_name(torch.device("cpu")), device_type="cpu", threads=1)
    starting = announcer(progress, total, done)
    if request.jobs:
        starting(f"concurrent fine-tuning jobs: {', '.join(map(str, request.jobs))}")
        report = replace(report, concurrency=measure_concurrency(request.jobs, device=request.device))
    if request.metrics:
        starting("metrics: fast path and contour reference, 512² pair")
        report = replace(report, metrics=measure_metric_speed())
    if progress is not None:
        progress(total, total, "done")
    return report
