"""The job is the one typed carrier from plan to worker: rebuilt from job.json as it was planned,
and trained as planned even when the run's config changes afterwards."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from benchmark.core.errors import BenchmarkError
from benchmark.run.execute import runner
from benchmark.run.folder.store import RunStore
from benchmark.run.execute.worker import run_job
from benchmark.config.options import resolve_run_config
from benchmark.train.device import DeviceOptions
from conftest import write_tiny_config


def _open(tmp_path, **changes):
    path = write_tiny_config(tmp_path, **changes)
    config = resolve_run_config(path)[0]
    return runner.open_run(config, tmp_path / "run")


def test_a_job_rebuilt_from_its_job_json_equals_the_planned_one(tmp_path):
    store, jobs = _open(tmp_path, methods=["supervised", "genesis", "vasomim"], ratios=["70:10"],
                        preprocess={"size": 32, "crop": 0.9})
    for job in jobs:
        store.write_job(job)
        rebuilt = store.read_job(job.key)
        assert rebuilt == job
        assert type(rebuilt.unet) is type(job.unet) and isinstance(rebuilt.depends_on, tuple)
    pretrains = [j for j in jobs if j.kind == "pretrain"]
    assert {type(j.pretrain.settings).__name__ for j in pretrains} == {"GenesisConfig", "VasoMIMConfig"}


def test_the_worker_trains_what_the_job_says_after_the_config_was_edited(tmp_path):
    store, jobs = _open(tmp_path, methods=["supervised"], ratios=["70:10"], protocol="study",
                        finetune={"epochs": 2, "batch_size": 4, "min_samples_per_epoch": 8})
    job = jobs[0]
    store.write_job(job)
    edited = store.config_path.read_text().replace("epochs = 2", "epochs = 5")
    assert edited != store.config_path.read_text()
    store.config_path.write_text(edited)  # a user edits the config after planning
    run_job(store.root, job.key, DeviceOptions(device="cpu"))
    history = pd.read_parquet(store.history_path(job.key))
    assert list(history["epoch"]) == [1, 2]  # the job's recipe, not the edited config's
    assert store.state(job.key) == "done"


def test_a_job_refuses_prepared_data_other_than_its_own(tmp_path):
    store, jobs = _open(tmp_path, methods=["supervised"], ratios=["70:10"])
    job = dataclasses.replace(jobs[0], data="another-dataset")
    store.write_job(job)
    with pytest.raises(BenchmarkError, match="planned on data another-dataset"):
        run_job(store.root, job.key, DeviceOptions(device="cpu"))
    assert "planned on data another-dataset" in RunStore(store.root).read_status(job.key).error
