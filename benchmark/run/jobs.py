"""The job graph: pre-training jobs and the fine-tune+evaluate jobs that depend on them.

A job's key is a hash of everything that determines its result (method, recipe, settings, data
fingerprint, the image ids it sees, seed, sizes), so two configs never share a result by accident
and identical work is done once: two ratios with the same pre-training set share one checkpoint.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Literal

from benchmark.config import RunConfig
from benchmark.data.splits import Splits
from benchmark.dataclass_io import to_plain
from methods import registry

JobKind = Literal["pretrain", "finetune"]
#: Bumped when a change in the harness changes results, so old results are never reused.
HARNESS_VERSION = 1


def stable_hash(payload: Any, length: int = 16) -> str:
    text = json.dumps(to_plain(payload), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def derive_seed(base_seed: int, method: str, ratio: str, stage: str) -> int:
    """A job's seed from (base seed, method, ratio, stage): independent streams, reproducible."""
    return int(stable_hash([base_seed, method, ratio, stage], 8), 16) % (2**31 - 1)


@dataclass(frozen=True)
class Job:
    key: str
    kind: JobKind
    method: str
    seed: int  # the run's base seed this job belongs to
    job_seed: int  # the derived seed the job trains with
    pt_ratio: float
    ft_ratio: float
    ratio: str  # the ratio label ("79:1"); for a pre-training job, the first ratio that uses it
    depends_on: tuple[str, ...]
    spec: dict[str, Any]  # what the key hashes; the worker reads its inputs from here

    @property
    def label(self) -> str:
        stage = "pre-train" if self.kind == "pretrain" else "fine-tune"
        return f"{self.method} {stage} {self.ratio} seed {self.seed}"


def build_jobs(config: RunConfig, splits: Splits, data_fingerprint: str) -> list[Job]:
    """Every job of the grid, pre-training jobs first, each listed once."""
    methods = registry()
    common = {
        "harness": HARNESS_VERSION,
        "data": data_fingerprint,
        "preprocess": config.preprocess,
        "unet": config.unet,
    }
    jobs: dict[str, Job] = {}
    finetunes: list[Job] = []
    for seed in config.seeds:
        for name in config.methods:
            cls = methods[name]
            for ratio in config.ratio_objects():
                part = splits.ratio(ratio)
                depends: tuple[str, ...] = ()
                if cls.pretrains:
                    pt_ids = hashlib.sha256("\n".join(part.pretrain).encode()).hexdigest()[:16]
                    pt_seed = derive_seed(seed, name, pt_ids, "pretrain")
                    spec = {
                        **common, "kind": "pretrain", "method": name, "seed": pt_seed,
                        "recipe": config.pretrain[name], "settings": config.method.get(name),
                        "pretrain_ids": pt_ids, "unlabelled": config.data.unlabelled,
                    }
                    key = f"pretrain-{name}-{stable_hash(spec)}"
                    if key not in jobs:
                        jobs[key] = Job(key, "pretrain", name, seed, pt_seed, ratio.pt, ratio.ft,
                                        ratio.label, (), {**to_plain(spec), "ratio": ratio.label})
                    depends = (key,)
                ft_seed = derive_seed(seed, name, ratio.label, "finetune")
                spec = {
                    **common, "kind": "finetune", "method": name, "seed": ft_seed,
                    "recipe": config.finetune, "pretrained": depends[0] if depends else None,
                    "train_ids": part.finetune_train, "val_ids": part.finetune_val, "test_ids": splits.test,
                }
                key = f"finetune-{name}-{stable_hash(spec)}"
                finetunes.append(Job(key, "finetune", name, seed, ft_seed, ratio.pt, ratio.ft,
                                     ratio.label, depends, {**to_plain(spec), "ratio": ratio.label}))
    return list(jobs.values()) + finetunes
