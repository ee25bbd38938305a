"""What the finished jobs of a run folder measured: each one's wall time against its work, as
samples for benchmark.speed.estimate. Only jobs at the planned UNet and image side count: a job of
other sizes says little about these."""

from __future__ import annotations

from benchmark.core.errors import BenchmarkError
from benchmark.model.unet import UNetConfig
from benchmark.run.folder.store import RunStore
from benchmark.speed.cost import measured_work
from benchmark.speed.estimate import Sample


def finished_samples(store: RunStore, extra_images: int, unet: UNetConfig, size: int | None) -> list[Sample]:
    """One sample per done job of the folder with a recorded wall time, at `unet` and `size`.

    A job the harness can no longer read (its method removed, say) is left out."""
    samples = []
    for key in store.job_keys():
        status = store.read_status(key)
        if status.state != "done" or not status.wall_time_s:
            continue
        try:
            job = store.read_job(key)
        except BenchmarkError:
            continue
        if job.unet != unet or job.preprocess.size != size:
            continue
        samples += [Sample(group, work, status.wall_time_s) for group, work in measured_work(job, extra_images).items()]
    return samples
