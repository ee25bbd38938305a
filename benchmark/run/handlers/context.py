"""What a job handler is given (the job, its data, the store, the device, a log) and what it gives
back (its outcome, and the per-image scores of a job that scores a model)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from benchmark.core.progress import Progress
from benchmark.run.folder.job_status import Outcome
from benchmark.run.plan.jobs import Job
from benchmark.run.folder.rundata import RunData
from benchmark.run.folder.row_schema import RowSource
from benchmark.run.plan.job_identity import FINETUNE, FROZEN_ENCODER
from benchmark.run.folder.store import RunStore
from benchmark.train.device import DeviceOptions

#: Images a job keeps as previews for the report's galleries.
PREVIEW_COUNT = 4


@dataclass(frozen=True)
class JobContext:
    job: Job
    data: RunData
    store: RunStore
    options: DeviceOptions
    log: Callable[[str], None]
    progress: Progress | None = None
    release: Callable[[], None] | None = None  # called once the job no longer needs the device
    metric_processes: int = 1

    def free_device(self) -> None:
        if self.release:
            self.release()


@dataclass(frozen=True)
class Scores:
    """A model's per-image metrics on one test set, and what the rows of those images share."""

    test_set: str
    per_image: list[dict[str, float | str]]  # image_id and the metrics (benchmark.evaluate.rows)
    source: RowSource


@dataclass(frozen=True)
class JobResult:
    outcome: Outcome
    scores: Scores | None = None


def row_source(job: Job, model: Job, params: int) -> RowSource:
    """What the rows of `job` share; `model` is the fine-tune job the scored weights are from."""
    spec = model.finetune
    return RowSource(job_key=job.key, finetune_job=model.key, method=job.method, protocol=job.protocol,
                     evaluation=FROZEN_ENCODER if spec.frozen_encoder else FINETUNE, pt_ratio=job.pt_ratio,
                     ft_ratio=job.ft_ratio, ratio=job.ratio, seed=job.seed,
                     params_finetune=params, pretrained_from=spec.pretrained or "",
                     pretrained_sha256=spec.imported.sha256 if spec.imported is not None else "",
                     n_pretrain=spec.pretrain_images,
                     n_finetune_train=len(spec.train_ids), n_finetune_val=len(spec.val_ids))
