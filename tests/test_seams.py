"""The typed seams around a job: its status.json, its rows and the worker's messages, each read back
as what was written, and refused by name when it holds something else."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from benchmark.core.errors import BenchmarkError
from benchmark.data.preprocess import PreprocessConfig
from benchmark.model.unet_config import UNetConfig
from benchmark.run.plan.job_identity import JobIdentity
from benchmark.run.folder.job_status import FinetuneOutcome, JobStatus, PretrainOutcome, Provenance, ScoreOutcome
from benchmark.run.plan.jobs import Job
from benchmark.run.execute.messages import FinishedMessage, ProgressMessage, ReleaseMessage, decode, encode
from benchmark.run.folder.row_schema import KEY_COLUMNS, ROW_NAMES, RowProvenance, RowSource, empty_rows, result_frame

DONE = JobStatus("done", time=5.0, device="cpu", wall_time_s=2.5, provenance=Provenance("abc", "v1", "fp32", False),
                 outcome=FinetuneOutcome(params_finetune=10, best_epoch=2, best_val_dice=0.5, lr=1e-3, steps=8,
                                         batch_size=4))


def test_a_done_status_is_the_flat_table_status_json_always_held_and_reads_back_equal():
    table = DONE.to_json()
    assert table == {"state": "done", "time": 5.0, "device": "cpu", "wall_time_s": 2.5, "git_commit": "abc",
                     "versions": "v1", "precision": "fp32", "compiled": False, "params_finetune": 10,
                     "best_epoch": 2, "best_val_dice": 0.5, "lr": 1e-3, "steps": 8, "batch_size": 4,
                     "encoder_shift": None}  # a fine-tune from scratch: nothing transferred to measure
    assert JobStatus.from_json(json.loads(json.dumps(table)), "finetune", "status.json") == DONE


def test_each_kind_reads_its_own_outcome_and_a_stray_key_is_refused_by_name():
    pre = {"state": "done", "params_pretrain": 3, "final_loss": None, "steps": 4, "images_seen": 32, "lr": 0.01}
    outcome = JobStatus.from_json(pre, "pretrain", "p/status.json").outcome
    assert outcome == PretrainOutcome(3, None, 4, 32, 0.01) and outcome.budget().images_seen == 32
    assert JobStatus.from_json({"state": "done", "params_finetune": 7}, "score", "s").outcome == ScoreOutcome(7)
    with pytest.raises(BenchmarkError, match="p/status.json: unknown key 'epochs'"):
        JobStatus.from_json({**pre, "epochs": 3}, "pretrain", "p/status.json")
    failed = JobStatus.from_json({"state": "failed", "error": "boom", "wall_time_s": 1.0}, "finetune", "f")
    assert (failed.error, failed.outcome, failed.provenance) == ("boom", None, None)


def test_a_job_file_reads_back_as_the_identity_of_the_job_that_wrote_it():
    """status and the report read job.json as a JobIdentity: the Job's own fields of that name, read
    without the method registry, whatever the job trains with."""
    job = Job("finetune-mae-x", "finetune", "mae", 2, 70.0, 10.0, "70:10", ("pretrain-mae-y",), job_seed=7,
              data="d", unet=UNetConfig(base=4), preprocess=PreprocessConfig(size=32))
    identity = JobIdentity.from_json(json.loads(json.dumps(job.to_json())), "job.json")
    assert identity == JobIdentity("finetune-mae-x", "finetune", "mae", 2, 70.0, 10.0, "70:10", ("pretrain-mae-y",))
    with pytest.raises(BenchmarkError, match="job.json: no 'ratio'"):
        JobIdentity.from_json({k: v for k, v in job.to_json().items() if k != "ratio"}, "job.json")


def test_rows_have_the_schema_columns_in_order_with_their_dtypes():
    source = RowSource("finetune-x", "finetune-x", "mae", "fair", "finetune", 70.0, 10.0, "70:10", 0, 99, "pretrain-x", "",
                       35, 4, 1)
    made = RowProvenance("abc", "v1", "cpu", "fp32", False, 1.5)
    scores = [{"image_id": "b", "dice": 0.5, "cldice": 0.4, "iou": 0.3, "hd": 1.0, "hd95": 2.0, "nsd": 0.6,
               "add": 0.1, "diameter_pred": 2.1, "diameter_gt": 2.0}] * 2
    frame = result_frame(scores, "in-domain", source, made)
    assert tuple(frame.columns) == ROW_NAMES and list(frame["n_test"]) == [2, 2]
    assert frame.dtypes.map(str).to_dict() == empty_rows().dtypes.map(str).to_dict()
    assert frame[["seed", "n_pretrain"]].dtypes.tolist() == [pd.Int64Dtype().numpy_dtype] * 2
    assert KEY_COLUMNS == ("image_id", "test_set", "job_key")


def test_worker_messages_round_trip_and_other_output_is_ignored():
    for message in (ProgressMessage(3, 10, "loss 0.5"), ReleaseMessage(), FinishedMessage("finetune-x", 1)):
        assert decode(encode(message) + "\n") == message
    assert encode(FinishedMessage("k", 0)) == '{"finished": "k", "code": 0}'  # the format persistent workers speak
    assert [decode(line) for line in ("UserWarning: something", "[1, 2]", '{"done": 1}')] == [None, None, None]
