"""The speed comparison: the fast path computes what the fp32 and the plain paths compute, and the
report's arithmetic, JSON and plan helpers. No timing is asserted anywhere."""

from __future__ import annotations

import copy
import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from benchmark.run.execute import runner
from benchmark.speed.cost import job_image_steps
from benchmark.train.flops import training_flops_per_image
from benchmark.data.augment import AugmentConfig
from benchmark.core.errors import BenchmarkError
from benchmark.train.hardware import native_cpu_bf16
from benchmark.evaluate.metrics import segmentation_metrics
from benchmark.evaluate.reference import reference_segmentation_metrics, vessel_like_pair
from benchmark.model.unet import UNet, UNetConfig
from benchmark.config.options import resolve_run_config
from benchmark.speed import measure
from benchmark.speed.measure import (
    SpeedRequest, SpeedSizes, Window, aggregate_images_per_second, check_request, check_sizes, choose_sizes, image_pool,
    measure_concurrency, measure_metric_speed, measure_speed, median_rates, method_names, metrics_agree, resolve_device,
    time_request, training_units, zscored,
)
from benchmark.speed.reference_loop import plain_finetune_loop, plain_pretrain_loop
from benchmark.speed.report import (
    ConcurrencyRow, MetricSpeed, SpeedReport, SpeedRow, estimate_cost_from_speed, images_per_second_for,
    load_speed_json,
)
from benchmark.model.recipes import FinetuneRecipe, PretrainRecipe
from benchmark.train.device import DeviceOptions
from benchmark.train.loops import TensorSet, finetune, pretrain
from methods import registry
from methods.mae import MAE

CPU = torch.device("cpu")
FP32 = DeviceOptions(bf16=False)  # the plain loop computes in fp32: so must the harness it is compared with


@pytest.fixture(scope="module")
def pool() -> tuple[np.ndarray, np.ndarray]:
    return image_pool(4, 32)


def _float_images(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(zscored(images))[:, None]


def _mae() -> MAE:
    torch.manual_seed(0)
    return MAE(UNet(UNetConfig(base=4)), MAE.default_config("tiny"))


def _mae_recipe(epochs: int) -> PretrainRecipe:
    return replace(MAE.default_recipe("tiny"), batch_size=4, epochs=epochs, warmup_epochs=0, schedule="constant")


def _mae_curve(images: torch.Tensor, options: DeviceOptions, epochs: int = 3) -> np.ndarray:
    method = _mae()
    torch.manual_seed(1)
    return np.array([p["loss"] for p in pretrain(method, images, _mae_recipe(epochs), options, seed=0)])


def test_mae_pretraining_curve_under_bf16_autocast_matches_fp32_within_bf16_tolerance(pool):
    images = _float_images(pool[0])
    fp32 = _mae_curve(images, DeviceOptions(bf16=False, log_every=1), epochs=4)
    bf16 = _mae_curve(images, DeviceOptions(bf16=True, log_every=1), epochs=4)
    assert len(fp32) == 4
    assert not np.array_equal(fp32, bf16)  # autocast did compute in bf16
    assert np.allclose(fp32, bf16, rtol=0.05, atol=0.02), (fp32, bf16)


def test_plain_loop_computes_the_harness_finetuning_losses_without_augmentation(pool):
    images, masks = pool
    torch.manual_seed(0)
    initial = UNet(UNetConfig(base=4))
    data = TensorSet.from_numpy(_float_images(images)[:, 0].numpy(), masks)
    # One step an epoch over the whole set: the epoch losses are the step losses.
    recipe = FinetuneRecipe(lr=1e-3, batch_size=4, epochs=3, augment=AugmentConfig.none())
    harness = [h["loss"] for h in finetune(copy.deepcopy(initial), data, data.subset([0]), recipe, FP32, 0).history]
    plain = plain_finetune_loop(copy.deepcopy(initial), images, masks, 4, 3, CPU, lr=1e-3, augment=False).run(3)
    assert plain == pytest.approx(harness, rel=1e-5)
    assert plain[2] < plain[0] - 1e-3  # the steps trained, so matching losses compare trained weights too


def test_plain_loop_computes_the_harness_mae_losses_without_augmentation(pool):
    images = pool[0]
    harness = _mae_curve(_float_images(images), replace(FP32, log_every=1))
    method = _mae()
    torch.manual_seed(1)  # MAE draws its masks from torch's RNG, as in the harness run
    plain = plain_pretrain_loop(method, images, _mae_recipe(3), 3, CPU, augment=False).run(3)
    assert plain == pytest.approx(harness.tolist(), rel=1e-5)
    assert plain[2] != plain[0]


def test_plain_loop_gives_the_positive_control_its_masks_as_the_harness_does(pool):
    images, masks = pool
    control = registry()["control-oracle"]
    recipe = replace(control.default_recipe("tiny"), batch_size=4, epochs=3, warmup_epochs=0, schedule="constant")

    def fresh():
        torch.manual_seed(0)
        return control(UNet(UNetConfig(base=4)), control.default_config("tiny"))

    harness = [p["loss"] for p in pretrain(fresh(), _float_images(images), recipe, replace(FP32, log_every=1), seed=0,
                                           masks=torch.from_numpy(masks)[:, None])]
    plain = plain_pretrain_loop(fresh(), images, recipe, 3, CPU, augment=False, masks=masks).run(3)
    assert plain == pytest.approx(harness, rel=1e-5)
    assert plain[2] < plain[0]  # it trained on the labels


def test_compile_option_runs_the_compiled_pretraining_step_and_logs_its_first_step_time(pool, compiled):
    images = _float_images(pool[0])
    plain = _mae_curve(images, DeviceOptions(log_every=1), epochs=2)
    method = _mae()
    torch.manual_seed(1)
    curve = pretrain(method, images, _mae_recipe(2), DeviceOptions(log_every=1, compile=True), seed=0)
    assert len(compiled) == 1 and compiled[0].__func__ is MAE.training_step
    assert np.allclose([p["loss"] for p in curve], plain, rtol=1e-5)
    assert all(p["compile_s"] == curve[0]["compile_s"] > 0 for p in curve)
    assert "compile_s" not in pretrain(_mae(), images, _mae_recipe(1), DeviceOptions(), seed=0)[0]


def test_compile_option_runs_the_compiled_unet_in_finetuning_and_logs_its_first_step_time(pool, compiled):
    images, masks = pool
    data = TensorSet.from_numpy(_float_images(images)[:, 0].numpy(), masks)
    recipe = FinetuneRecipe(lr=1e-3, batch_size=4, epochs=2)

    def history(compile: bool) -> list[dict[str, float]]:
        torch.manual_seed(0)
        return finetune(UNet(UNetConfig(base=4)), data, data.subset([0]), recipe, DeviceOptions(compile=compile), 0).history

    eager, with_compile = history(False), history(True)
    assert len(compiled) == 1 and isinstance(compiled[0], UNet)
    assert [h["loss"] for h in with_compile] == pytest.approx([h["loss"] for h in eager], rel=1e-5)
    assert all(h["compile_s"] == with_compile[0]["compile_s"] > 0 for h in with_compile)
    assert "compile_s" not in eager[0]


def test_report_derives_speed_up_tflops_and_peak_share_from_the_measured_rates():
    report = SpeedReport(peak_tflops={"bf16": 2.0, "fp32": 0.5}, peak_dtype="bf16", rows=(
        SpeedRow("finetune", flops_per_image=2e9, harness_ips=300.0, plain_ips=100.0),
        SpeedRow("mae", flops_per_image=1e9, harness_ips=50.0, plain_ips=200.0),
    ))
    frame = report.tables()[0][1].set_index("step")
    # finetune: 2 GFLOP × 300 img/s = 0.6 TFLOP/s = 30 % of 2 TFLOP/s; plain 0.2 TFLOP/s = 10 %
    assert frame.loc["finetune", "speed-up"] == pytest.approx(3.0)
    assert frame.loc["finetune", "harness TFLOP/s"] == pytest.approx(0.6)
    assert frame.loc["finetune", "harness % peak"] == pytest.approx(30.0)
    assert frame.loc["finetune", "plain % peak"] == pytest.approx(10.0)
    assert frame.loc["mae", "speed-up"] == pytest.approx(0.25)
    assert frame.loc["mae", "GFLOP/img"] == pytest.approx(1.0)
    # against the fp32 peak the same rate is a larger share
    assert replace(report, peak_dtype="fp32").peak_share(0.6) == pytest.approx(1.2)
    assert any(line.startswith("finetune") and "0.6" in line and "30" in line for line in report.lines())


def test_report_tables_include_concurrency_against_one_job_and_metric_speed_ups():
    report = SpeedReport(peak_tflops={"fp32": 1.0}, peak_dtype="fp32",
                         concurrency=(ConcurrencyRow(1, 100.0, 100.0), ConcurrencyRow(2, 150.0, 75.0)),
                         metrics=(MetricSpeed("hd", 2.0, 30.0, True, 0.1, 512),))
    tables = dict(report.tables())
    assert not any("training steps" in title for title in tables)  # no rows measured, no training table
    concurrency = next(frame for title, frame in tables.items() if "concurrent" in title)
    assert concurrency["vs 1 job"].tolist() == pytest.approx([1.0, 1.5])
    metrics = next(frame for title, frame in tables.items() if "512²" in title)
    assert metrics["speed-up"].tolist() == pytest.approx([15.0])


def test_speed_report_round_trips_through_json(tmp_path):
    report = SpeedReport(
        device="Test GPU", device_type="cuda", size=128, batch=8, base=16, steps=5, warmup=2, repeats=3, compile=True,
        loader_workers=4, threads=3, peak_tflops={"bf16": 700.5, "fp32": 50.25}, peak_dtype="bf16",
        rows=(SpeedRow("finetune", 1.5e9, 900.0, 300.0, 12.5), SpeedRow("mae", 1.6e9, 800.0, 250.0, None)),
        concurrency=(ConcurrencyRow(1, 10.0, 10.0, 100), ConcurrencyRow(2, 18.0, 9.0, 200)),
        metrics=(MetricSpeed("all", 20.0, 200.0, False, 0.7, 512),),
    )
    path = tmp_path / "speed.json"
    report.to_json(path)
    assert load_speed_json(path) == report


def test_reading_a_missing_malformed_or_foreign_speed_json_or_writing_nowhere_names_the_file(tmp_path):
    with pytest.raises(BenchmarkError, match="missing.json"):
        load_speed_json(tmp_path / "missing.json")
    with pytest.raises(BenchmarkError, match="nowhere.json"):
        SpeedReport().to_json(tmp_path / "no" / "such" / "nowhere.json")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(BenchmarkError, match="broken.json"):
        load_speed_json(broken)
    foreign = tmp_path / "foreign.json"
    foreign.write_text('{"rows": [{"step": "mae", "images_per_sec": 3}]}')
    with pytest.raises(BenchmarkError, match=r"foreign\.json.*images_per_sec"):
        load_speed_json(foreign)


def test_images_per_second_for_takes_the_steps_row_and_scales_by_flops_per_image():
    report = SpeedReport(size=256, base=64, rows=(SpeedRow("finetune", 1e9, 100.0, 10.0), SpeedRow("mae", 1e9, 40.0, 10.0)))
    assert images_per_second_for(report, None) == 100.0
    assert images_per_second_for(report, "mae") == 40.0
    assert images_per_second_for(report, "mae", UNetConfig(base=64), 512) == pytest.approx(10.0)  # 4× the pixels
    assert images_per_second_for(report, None, UNetConfig(base=32), 256) == pytest.approx(400.0)  # ¼ the FLOPs
    with pytest.raises(BenchmarkError, match="no row for 'moco'.*--methods moco"):
        images_per_second_for(report, "moco")


def test_aggregate_throughput_spans_from_the_first_start_to_the_last_end():
    windows = [Window(100, 10.0, 11.0), Window(100, 10.5, 11.5)]
    assert aggregate_images_per_second(windows) == pytest.approx(200 / 1.5)
    assert windows[0].images_per_second == pytest.approx(100.0)


def test_concurrent_jobs_each_train_their_steps_and_add_up_to_the_aggregate():
    (row,) = measure_concurrency((2,), size=32, batch=4, base=4, steps=2, warmup=1, device="cpu")
    assert (row.jobs, row.images) == (2, 2 * 2 * 4)  # both jobs sent back their 2 steps of 4 images
    # The span covers both timed blocks, so the aggregate is at most the sum of the jobs' own rates.
    assert 0 < row.images_per_second <= 2 * row.per_job_ips * (1 + 1e-9)


def test_median_rates_time_the_paths_in_turn_and_keep_each_ones_median():
    calls = []

    def timer(name: str, images: list[int]):
        rates = iter(images)

        def one_block() -> Window:
            calls.append(name)
            return Window(next(rates), 0.0, 2.0)

        return one_block

    assert median_rates(timer("harness", [20, 60, 40]), timer("plain", [10, 2, 6]), 3) == (20.0, 3.0)
    assert calls == ["harness", "plain"] * 3


def test_metrics_agree_within_the_stated_tolerances_only():
    reference = {"dice": 0.8, "hd": 3.0, "add": 1.0, "diameter_pred": 4.0, "diameter_gt": 5.0}
    assert metrics_agree({**reference, "hd": 3.9}, reference, ["hd", "dice"])
    assert not metrics_agree({**reference, "hd": 4.1}, reference, ["hd"])
    assert not metrics_agree({**reference, "add": 1.31}, reference, ["add"])
    assert not metrics_agree({**reference, "dice": 0.8 + 1e-9}, reference, ["dice"])  # overlaps must be equal


def test_metric_speed_rows_time_every_metric_and_all_and_compare_their_values_on_the_same_pair():
    rows = measure_metric_speed(size=64, repeats=1)
    fast, reference = segmentation_metrics(*vessel_like_pair(64)), reference_segmentation_metrics(*vessel_like_pair(64))
    difference = {key: abs(fast[key] - reference[key]) for key in fast}
    assert [r.metric for r in rows] == ["dice", "iou", "cldice", "hd", "add", "all"]
    assert [r.max_difference for r in rows] == [
        0.0, 0.0, 0.0, difference["hd"], max(difference[k] for k in ("add", "diameter_pred", "diameter_gt")),
        max(difference.values())]
    assert all(r.agree and r.size == 64 and math.isfinite(r.fast_ms) and r.reference_ms > 0 for r in rows)


def test_measure_speed_reports_both_paths_and_the_counted_flops_of_each_step():
    heard = []
    report = measure_speed(["mae"], size=32, batch=4, base=4, steps=2, warmup=1, repeats=1, device="cpu", peak_size=64,
                           progress=lambda done, total, message: heard.append((done, total, message)))
    # fine-tuning and MAE: two warm-ups and two timed blocks each, then the peaks; then the end
    assert [message for _, _, message in heard] == [
        "finetune: harness warm-up", "finetune: plain loop warm-up", "finetune: harness, timed block 1/1",
        "finetune: plain loop, timed block 1/1", "mae: harness warm-up", "mae: plain loop warm-up",
        "mae: harness, timed block 1/1", "mae: plain loop, timed block 1/1", "matmul peaks (bf16, fp32)", "done"]
    assert [(done, total) for done, total, _ in heard] == [(i, training_units(1, 1)) for i in range(10)]
    config = UNetConfig(base=4)
    assert [r.step for r in report.rows] == ["finetune", "mae"]
    assert report.rows[0].flops_per_image == training_flops_per_image(None, config, 32)
    assert report.rows[1].flops_per_image == training_flops_per_image("mae", config, 32)
    assert all(r.harness_ips > 0 and r.plain_ips > 0 and r.compile_s is None for r in report.rows)
    # the share of peak refers to the precision the harness trains in: bf16 where the CPU has it natively
    assert (report.device_type, report.peak_dtype, report.loader_workers) == ("cpu", "bf16" if native_cpu_bf16() else "fp32", 0)
    assert set(report.peak_tflops) == {"bf16", "fp32"} and all(v > 0 for v in report.peak_tflops.values())


def test_cpu_defaults_are_the_tiny_runs_sizes_and_say_so():
    assert choose_sizes(CPU) == SpeedSizes(64, 16, 8, ("--size", "--batch", "--base"), choose_sizes(CPU).basis)
    assert choose_sizes(CPU).note().startswith("no CUDA device: CPU-sized defaults")
    assert choose_sizes(CPU).note().endswith(": --size 64 --batch 16 --base 8")
    given = choose_sizes(CPU, size=128, base=16)
    assert (given.size, given.batch, given.base, given.defaulted) == (128, 16, 16, ("--batch",))
    assert choose_sizes(CPU, 32, 4, 4).note() is None  # nothing defaulted: nothing to say
    cuda = choose_sizes(torch.device("cuda"))  # the choice needs no CUDA device, only its type
    assert (cuda.size, cuda.batch, cuda.base) == (256, 32, 64) and "study's sizes" in cuda.note()


def test_metrics_alone_time_only_the_metrics_and_train_nothing(monkeypatch):
    def no_training(*args, **kwargs):
        raise AssertionError("--metrics alone trained")

    for trainer in ("measure_speed", "harness_finetune_timer", "harness_pretrain_timer", "measure_concurrency"):
        monkeypatch.setattr(measure, trainer, no_training)
    timed = (MetricSpeed("all", 6.0, 36.0, True, 0.2, 512),)
    monkeypatch.setattr(measure, "measure_metric_speed", lambda: timed)
    heard = []
    report = time_request(SpeedRequest(metrics=True), lambda *update: heard.append(update))
    assert (report.rows, report.concurrency, report.metrics) == ((), (), timed)
    assert heard == [(0, 1, "metrics: fast path and contour reference, 512² pair"), (1, 1, "done")]
    assert SpeedRequest(metrics=True, training=True).times_training and SpeedRequest().times_training


def test_a_request_that_times_nothing_or_jobs_without_training_is_refused():
    with pytest.raises(BenchmarkError, match="--no-training leaves nothing to time"):
        check_request(SpeedRequest(training=False))
    with pytest.raises(BenchmarkError, match="--jobs times concurrent training jobs: add --training"):
        check_request(SpeedRequest(metrics=True, jobs=(1, 2)))
    with pytest.raises(BenchmarkError, match="--batch 1"):
        check_request(SpeedRequest(batch=1, device="cpu"))


def test_unknown_methods_devices_and_sizes_are_user_errors_naming_the_option():
    with pytest.raises(BenchmarkError, match="--methods: nope"):
        method_names("mae,nope")
    with pytest.raises(BenchmarkError, match="--methods: supervised"):
        method_names(["supervised"])  # it has no pre-training step to time
    assert method_names("none") == [] and "mae" in method_names("all")
    with pytest.raises(BenchmarkError, match="--device 'gpu'"):
        resolve_device("gpu")
    with pytest.raises(BenchmarkError, match="--size 40"):
        check_sizes(40, 4, 4, 2, 1)
    with pytest.raises(BenchmarkError, match="--warmup 0"):
        check_sizes(32, 4, 4, 2, 0)
    if not torch.cuda.is_available():
        with pytest.raises(BenchmarkError, match="--device cuda"):
            resolve_device("cuda")


def test_cost_from_measured_speed_takes_each_jobs_hours_from_its_steps_images_per_second(tiny_config, tmp_path):
    config = resolve_run_config(tiny_config)[0]  # supervised + mae at 32 px, base 4
    _, jobs, _, extra = runner.plan_run(config, tmp_path / "run")
    report = SpeedReport(size=32, base=4, rows=(SpeedRow("finetune", 1e9, 100.0, 50.0), SpeedRow("mae", 1e9, 20.0, 10.0)))
    cost = estimate_cost_from_speed(jobs, config, report, extra)
    assert cost.jobs["job_key"].tolist() == [job.key for job in jobs]
    for job, hours in zip(jobs, cost.jobs["hours"]):
        rate = 20.0 if job.kind == "pretrain" else 100.0
        assert hours == pytest.approx(job_image_steps(job, extra) / rate / 3600)
    assert cost.tflops == pytest.approx(cost.jobs["tflop"].sum() / (cost.total_hours * 3600))
