"""`angiobench plan`: each job to run estimated from the finished jobs of its kind, or from a probe of
real steps, as a range, for the jobs run at once, with a warning when the machine is busy. Every
time here is injected (finished jobs' wall times, the probe's timed blocks, the load average): no
timing is asserted."""

from __future__ import annotations

import itertools

import pytest

from benchmark.core.errors import BenchmarkError
from benchmark.model.unet import UNetConfig
from benchmark.run.execute import runner
from benchmark.run.folder.job_status import JobStatus
from benchmark.config.options import resolve_run_config
from benchmark.speed import planning, probe
from benchmark.speed.cost import FINETUNE_STEP, METRICS, job_image_steps, pretrain_step
from benchmark.speed.estimate import Machine, Sample, Span, busy_warning, rates, seconds_for, span_text, wall_span
from benchmark.speed.history import finished_samples
from benchmark.speed.planning import PlanRequest, plan_cost
from benchmark.speed.probe import Block, ProbeConfig
from conftest import write_tiny_config
from test_cli import _run

QUIET = Machine(load=0.1, cores=2)


def test_two_finished_pretrain_jobs_of_10_and_14_s_for_100_steps_give_a_200_step_job_20_to_28_s():
    known = rates([Sample("pre-train mae", 100, 10.0), Sample("pre-train mae", 100, 14.0)])
    assert known == {"pre-train mae": Span(0.10, 0.14)}
    estimate = seconds_for({"pre-train mae": 200}, known)
    assert estimate.low == pytest.approx(20.0) and estimate.high == pytest.approx(28.0)


def test_one_measurement_gives_at_least_ten_percent_either_side_and_a_missing_kind_gives_none():
    known = rates([Sample("fine-tune", 100, 10.0), Sample("fine-tune", 0, 5.0), Sample("score", 50, 0.0)])
    assert set(known) == {"fine-tune"}  # no work or no time: no measurement
    estimate = seconds_for({"fine-tune": 300}, known)
    assert (estimate.low, estimate.high) == pytest.approx((27.0, 33.0))
    assert seconds_for({"fine-tune": 300, "score": 10}, known) is None


def test_a_job_of_two_amounts_adds_their_seconds():
    known = {"step": Span(0.1, 0.2), "metrics": Span(1.0, 1.0)}
    estimate = seconds_for({"step": 100, "metrics": 3}, known)
    assert (estimate.low, estimate.high) == pytest.approx((10 + 2.7, 20 + 3.3))


def test_the_wall_time_shares_the_jobs_among_the_workers_but_is_never_shorter_than_the_longest_job():
    four = [Span(10, 14)] * 4
    assert wall_span(four, 2) == Span(20, 28)
    assert wall_span(four, 1) == Span(40, 56)
    assert wall_span([Span(100, 120), Span(1, 2)], 4) == Span(100, 120)
    assert wall_span([], 2) == Span(0, 0)


def test_ranges_read_in_seconds_minutes_or_hours():
    assert span_text(Span(20, 28)) == "20–28 s"
    assert span_text(Span(1500, 1860)) == "25–31 min"
    assert span_text(Span(3900, 4800)) == "1 h 05 min – 1 h 20 min"
    assert span_text(Span(45, 300)) == "45 s – 5 min"
    assert span_text(Span(600, 600)) == "10 min"


def test_a_load_of_half_the_cores_or_more_is_busy_and_the_warning_says_what_it_does_to_the_estimate():
    assert busy_warning(Machine(2.3, 2)) == (
        "the machine is busy (load 2.3 on 2 cores): the estimate is the finished jobs' times; jobs started "
        "now share the cores with that load and may take longer")
    assert busy_warning(Machine(0.9, 2)) is None
    assert busy_warning(Machine(1.0, 2)) is not None
    assert busy_warning(Machine(3.0, 16), probe_cpu_share=1.0) is None
    probed = busy_warning(Machine(2.3, 2), probe_cpu_share=1.0)
    assert probed.startswith("the machine is busy (load 2.3 on 2 cores): ") and probed.endswith("may be high")


def test_a_probe_that_got_less_than_a_core_says_so_on_a_quiet_load_average():
    warning = busy_warning(Machine(0.2, 4), probe_cpu_share=0.55)
    assert warning.startswith("the machine is busy (load 0.2 on 4 cores; the probe got 0.55 of a core): ")
    assert busy_warning(Machine(0.2, 4), probe_cpu_share=0.95) is None


@pytest.fixture
def grid(tiny_config, tmp_path):
    """The tiny grid (supervised and MAE, two ratios) and its empty run folder."""
    config = resolve_run_config(tiny_config)[0]
    store, jobs, _, extra = runner.plan_run(config, tmp_path / "run")
    return config, store, jobs, extra


def _finish(store, job, seconds: float) -> None:
    store.write_job(job)
    store.write_status(job.key, JobStatus("done", wall_time_s=seconds))


def _row(cost, job):
    return cost.jobs.set_index("job_key").loc[job.key]


def test_jobs_to_run_are_estimated_from_the_finished_jobs_of_their_kind_without_a_probe(grid):
    config, store, jobs, extra = grid
    pretrains = [j for j in jobs if j.kind == "pretrain"]
    finetunes = [j for j in jobs if j.kind == "finetune"]
    assert len(pretrains) == 2 and len(finetunes) == 4
    _finish(store, pretrains[0], 0.01 * job_image_steps(pretrains[0], extra))  # 10 ms per image-step
    _finish(store, finetunes[0], 0.02 * job_image_steps(finetunes[0], extra))
    _finish(store, finetunes[1], 0.03 * job_image_steps(finetunes[1], extra))

    def no_probe(*_):
        pytest.fail("every kind has finished jobs: nothing to probe")

    cost = plan_cost(jobs, config, extra, store, PlanRequest(workers=2), QUIET, no_probe)
    pretrain, finetune = _row(cost, pretrains[1]), _row(cost, finetunes[2])
    steps = job_image_steps(pretrains[1], extra)
    assert (pretrain["low_s"], pretrain["high_s"]) == pytest.approx((0.009 * steps, 0.011 * steps))
    steps = job_image_steps(finetunes[2], extra)
    assert (finetune["low_s"], finetune["high_s"]) == pytest.approx((0.02 * steps, 0.03 * steps))
    assert pretrain["basis"] == finetune["basis"] == "finished" and _row(cost, finetunes[0])["basis"] == "done"
    assert len(cost.to_run) == 3 and cost.warning is None
    left = [Span(r.low_s, r.high_s) for r in cost.to_run.itertuples()]
    assert cost.wall_time() == wall_span(left, 2) and cost.job_time().low == pytest.approx(sum(s.low for s in left))
    assert cost.summary().startswith("6 jobs (3 already done); 3 to run: ")


def test_finished_jobs_of_other_sizes_or_not_done_are_not_measurements(grid):
    config, store, jobs, extra = grid
    job = next(j for j in jobs if j.kind == "pretrain")
    _finish(store, job, 5.0)
    other = next(j for j in jobs if j.kind == "finetune")
    store.write_job(other)
    store.write_status(other.key, JobStatus("failed", wall_time_s=3.0))
    assert finished_samples(store, extra, config.unet, config.preprocess.size) == [
        Sample("pre-train mae", job_image_steps(job, extra), 5.0)]
    assert finished_samples(store, extra, UNetConfig(base=8), config.preprocess.size) == []
    assert finished_samples(store, extra, config.unet, 64) == []


def test_without_finished_jobs_the_probe_times_each_step_and_the_metrics_and_scales_them_to_each_job(grid, monkeypatch):
    config, store, jobs, extra = grid
    walls = itertools.cycle([1.0, 2.0])  # each amount's two blocks: 0.1 and 0.2 s per unit

    def fixed_block(timer) -> Block:  # 10 units in `wall` seconds, half of them on the CPU
        wall = next(walls)
        return Block(10, wall, wall / 2)

    timed = []
    real_timers = probe.probe_timers

    def probe_timers(amounts, *args):  # the real warmed-up timers, and which amounts were asked for
        timed.append(set(amounts))
        return real_timers(amounts, *args)

    monkeypatch.setattr(probe, "timed_block", fixed_block)
    monkeypatch.setattr(probe, "probe_timers", probe_timers)
    request = PlanRequest(workers=1, threads=1, probe=ProbeConfig(repeats=2))
    cost = plan_cost(jobs, config, extra, store, request, QUIET, probe.run_probe)
    assert timed == [{pretrain_step("mae"), FINETUNE_STEP, METRICS}]
    for job in jobs:
        row = _row(cost, job)
        units = job_image_steps(job, extra) + (len(job.finetune.test_ids) if job.finetune else 0)
        assert (row["low_s"], row["high_s"]) == pytest.approx((0.1 * units, 0.2 * units)), job.key
        assert row["basis"] == "probe"
    # the probe got half a core per wall second: other processes were running
    assert cost.warning.startswith("the machine is busy (load 0.1 on 2 cores; the probe got 0.50 of a core)")


def test_once_the_timed_blocks_fill_the_budget_each_amount_left_gets_one(monkeypatch):
    monkeypatch.setattr(probe, "probe_timers", lambda amounts, *_: {a: (lambda: None) for a in amounts})
    walls = iter([15.0, 10.0, 30.0, 5.0])
    monkeypatch.setattr(probe, "timed_block", lambda timer: Block(10, next(walls), 1.0))
    result = probe.run_probe({"a": None, "b": None, "c": None}, None, config=ProbeConfig(repeats=3, budget_s=20.0))
    assert result.rates == {"a": Span(1.0, 1.5), "b": Span(3.0, 3.0), "c": Span(0.5, 0.5)}
    assert (result.steps, result.wall_s, result.cpu_s) == (4, 60.0, 4.0)


def test_flop_counted_estimates_stay_available_as_overrides(grid):
    config, store, jobs, extra = grid
    cost = plan_cost(jobs, config, extra, store, PlanRequest(tflops=2.0), QUIET)
    assert (cost.jobs["tflop"] > 0).all()  # FLOPs counted per step, at 2 TFLOP/s: tflop / 2 seconds
    assert cost.jobs["low_s"].to_numpy() == pytest.approx(cost.jobs["tflop"].to_numpy() / 2.0)
    assert (cost.jobs["low_s"] == cost.jobs["high_s"]).all()
    assert "tflop" in cost.by_kind() and cost.warning is None
    with pytest.raises(BenchmarkError, match="--speed or --tflops, not both"):
        plan_cost(jobs, config, extra, store, PlanRequest(tflops=2.0, speed=store.root / "speed.json"), QUIET)
    with pytest.raises(BenchmarkError, match="--tflops 0"):
        plan_cost(jobs, config, extra, store, PlanRequest(tflops=0.0), QUIET)


def test_plan_prints_the_range_for_the_workers_and_warns_of_a_busy_machine(tmp_path, monkeypatch):
    monkeypatch.setattr(probe, "timed_block", lambda timer: Block(10, 1.0, 1.0))
    monkeypatch.setattr(planning, "this_machine", lambda: Machine(2.3, 2))
    result = _run("plan", "--config", write_tiny_config(tmp_path, methods=["supervised"]), "--out", tmp_path / "run",
                  "--cpu-workers", "2")
    assert result.exit_code == 0, result.output
    assert "warning: the machine is busy (load 2.3 on 2 cores): the probe's steps were slowed" in result.output
    assert "2 jobs (0 already done); 2 to run: " in result.output and "with 2 at once" in result.output
