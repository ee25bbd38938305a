"""The job graph: pre-training jobs, the fine-tune+evaluate jobs that depend on them, and the jobs
that score a fine-tuned model on an external test set.

A `Job` is the one typed carrier from plan to worker: it holds everything the worker trains from
(method, settings, recipe, image ids, seeds, sizes), and the worker reads nothing else but the
prepared data. Its key is a hash of exactly those inputs, so two configs never share a result by
accident and identical work is done once: two ratios with the same pre-training set share one
checkpoint. Scoring on an external set is a job of its own, keyed by the fine-tune job and the
set's content, so adding a set to a finished run trains nothing again. A contender pre-trained
outside the run (`--pretrained`) has no pre-training job: its fine-tune jobs start from its file and
their keys hash the file's sha256.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from benchmark.config.run_config import RunConfig
from benchmark.data.external import ExternalTestRef
from benchmark.data.preprocess import PreprocessConfig
from benchmark.data.splits import Ratio, Splits
from benchmark.core.dataclass_io import build, to_plain
from benchmark.core.errors import BenchmarkError
from benchmark.model.unet import UNetConfig
from benchmark.model.recipes import FinetuneRecipe, PretrainRecipe
from benchmark.run.plan.imported_weights import ImportedWeights
from benchmark.run.plan.job_identity import FINETUNE, FROZEN_ENCODER, JobIdentity
from benchmark.train.schedule import pretrain_schedule
from methods import registry

#: Bumped when a change in the harness changes results, so old results are never reused.
HARNESS_VERSION = 3


def stable_hash(payload: Any, length: int = 16) -> str:
    text = json.dumps(to_plain(payload), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def derive_seed(base_seed: int, method: str, ratio: str, stage: str) -> int:
    """A job's seed from (base seed, method, ratio, stage): independent streams, reproducible."""
    return int(stable_hash([base_seed, method, ratio, stage], 8), 16) % (2**31 - 1)


def ids_digest(ids: tuple[str, ...] | list[str]) -> str:
    """A short hash of an ordered id list: what a key hashes instead of hundreds of ids."""
    return hashlib.sha256("\n".join(ids).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class PretrainSpec:
    """What a pre-training job trains: the method's settings and recipe on these images."""

    recipe: PretrainRecipe
    image_ids: tuple[str, ...]  # the labelled images it pre-trains on (labels unused), in split order
    unlabelled: str = ""  # the run's extra unlabelled pool, also pre-trained on ("" = none)
    settings: Any = None  # the method's settings dataclass; None for a method without settings


@dataclass(frozen=True)
class FinetuneSpec:
    """What a fine-tune job trains and scores: the recipe, its start, and its three id lists."""

    recipe: FinetuneRecipe
    train_ids: tuple[str, ...]
    val_ids: tuple[str, ...]
    test_ids: tuple[str, ...]
    pretrained: str | None = None  # key of the pre-training job it starts from
    pretrain_images: int = 0  # the size of its cell's pre-training set, recorded in its rows (not hashed)
    imported: ImportedWeights | None = None  # or the weights made outside the run it starts from (--pretrained)
    frozen_encoder: bool = False  # the transferred encoder kept fixed; only the decoder and head train


@dataclass(frozen=True)
class ScoreSpec:
    """What a score job does: the fine-tune job's selected weights, predicted on one external test set.
    Nothing is trained or chosen: the weights were fixed on the fine-tuning set's validation part."""

    finetune: str  # key of the fine-tune job whose checkpoint is scored
    test_set: ExternalTestRef


@dataclass(frozen=True)
class Job(JobIdentity):
    """A job: its identity (key, kind, method, grid cell, dependencies), then what it trains with."""

    job_seed: int  # the derived seed the job trains with
    data: str  # fingerprint of the prepared data the job reads
    unet: UNetConfig
    preprocess: PreprocessConfig
    protocol: str = "fair"  # "fair" | "study": how the recipes were set (benchmark.config.profiles.ProtocolName)
    pretrain: PretrainSpec | None = None
    finetune: FinetuneSpec | None = None
    score: ScoreSpec | None = None

    @property
    def label(self) -> str:
        stage = {"pretrain": "pre-train", "finetune": "fine-tune"}.get(self.kind)
        if self.finetune is not None and self.finetune.frozen_encoder:
            stage = "frozen-encoder fine-tune"
        if self.score is not None:
            stage = f"score on {self.score.test_set.name}"
        return f"{self.method} {stage} {self.ratio} seed {self.seed}"

    def to_json(self) -> dict[str, Any]:
        return to_plain(self, keep_none=True)

    @classmethod
    def from_json(cls, table: dict[str, Any], where: str) -> "Job":
        """The Job a `to_json` table describes; the method's settings get their own dataclass back."""
        job = build(cls, table, where)
        if job.pretrain is not None and isinstance(job.pretrain.settings, dict):
            methods = registry()
            if job.method not in methods:
                raise BenchmarkError(f"{where}: method {job.method!r} is not registered")
            default = methods[job.method].default_config("tiny")
            if default is None:
                raise BenchmarkError(f"{where}: method {job.method!r} has no settings, but the job names some")
            settings = build(type(default), job.pretrain.settings, f"{where}.pretrain.settings")
            job = dataclasses.replace(job, pretrain=dataclasses.replace(job.pretrain, settings=settings))
        return job


#: The seed stream every method of a (ratio, seed) cell fine-tunes with (common random numbers): the
#: same head and decoder initialisation where nothing is transferred, batch order and augmentation,
#: so two methods of a cell differ only in their transferred weights.
CELL_STREAM = "cell"


def finetune_seed(base_seed: int, ratio: str, stream: str = CELL_STREAM) -> int:
    """A cell's fine-tuning seed: its common one, or that of a method's own stream (one with
    `independent_seed`, the negative control, passes its name)."""
    return derive_seed(base_seed, stream, ratio, "finetune")


def build_jobs(config: RunConfig, splits: Splits, data_fingerprint: str, extra_images: int = 0,
               external_tests: tuple[ExternalTestRef, ...] = (),
               imported_weights: tuple[ImportedWeights, ...] = ()) -> list[Job]:
    """Every job of the grid, pre-training jobs first, each listed once.

    `extra_images`: the size of the run's unlabelled pool, which every pre-training set includes
    (but the label-using positive control); under the fair protocol a method's settings are fitted
    to its set's size and step count (`SSLMethod.fit_to_budget`). `external_tests`: the sets every
    fine-tuned model is also scored on, one score job per (fine-tune job, set), listed last.
    `imported_weights`: contenders pre-trained outside the run (benchmark.run.plan.imported_weights),
    fine-tuned in every cell like a method, on the cell's common seed stream, from their file.
    """
    methods = registry()
    shared = {"data": data_fingerprint, "preprocess": config.preprocess, "unet": config.unet,
              "protocol": config.protocol}
    common = {"harness": HARNESS_VERSION, **shared}  # what every key hashes
    jobs: dict[str, Job] = {}
    finetunes: list[Job] = []
    for seed in config.seeds:
        for name in config.methods:
            cls = methods[name]
            for ratio in config.ratios:
                part = splits.ratio(ratio, seed)
                pretrained = None
                if cls.pretrains:
                    pt_ids = ids_digest(part.pretrain)
                    pt_seed = derive_seed(seed, CELL_STREAM, pt_ids, "pretrain")  # batch order shared too
                    recipe, settings = config.pretrain[name], config.method_settings.get(name)
                    pool = "" if cls.uses_labels else config.data.unlabelled
                    if config.protocol == "fair":
                        n = len(part.pretrain) + (0 if cls.uses_labels else extra_images)
                        steps = pretrain_schedule(n, recipe).total_steps
                        settings = cls.fit_to_budget(settings, n, steps, min(recipe.batch_size, n))
                    hashed = {
                        **common, "kind": "pretrain", "method": name, "seed": pt_seed, "recipe": recipe,
                        "settings": settings, "pretrain_ids": pt_ids, "unlabelled": pool,
                    }
                    pretrained = f"pretrain-{name}-{stable_hash(hashed)}"
                    if pretrained not in jobs:
                        spec = PretrainSpec(recipe, tuple(part.pretrain), pool, settings)
                        jobs[pretrained] = Job(pretrained, "pretrain", name, seed, ratio.pt, ratio.ft, ratio.label, (),
                                               job_seed=pt_seed, **shared, pretrain=spec)
                stream = name if cls.independent_seed else CELL_STREAM
                finetunes += [finetune_job(config, splits, ratio, seed, name, finetune_seed(seed, ratio.label, stream),
                                           common, shared, pretrained=pretrained, frozen=frozen)
                              for frozen in evaluation_modes(config)]
        for weights in imported_weights:
            for ratio in config.ratios:
                finetunes += [finetune_job(config, splits, ratio, seed, weights.name, finetune_seed(seed, ratio.label),
                                           common, shared, imported=weights, frozen=frozen)
                              for frozen in evaluation_modes(config)]
    scores = [score_job(finetune, test_set) for finetune in finetunes for test_set in external_tests]
    return list(jobs.values()) + finetunes + scores


def evaluation_modes(config: RunConfig) -> tuple[bool, ...]:
    """Per fine-tune cell, whether each of its jobs keeps the encoder frozen: full fine-tuning, the
    frozen-encoder probe, or both (`RunConfig.evaluation`)."""
    return {FINETUNE: (False,), FROZEN_ENCODER: (True,), "both": (False, True)}[config.evaluation]


def finetune_job(config: RunConfig, splits: Splits, ratio: Ratio, seed: int, method: str, ft_seed: int,
                 common: dict[str, Any], shared: dict[str, Any], pretrained: str | None = None,
                 imported: ImportedWeights | None = None, frozen: bool = False) -> Job:
    """One cell's fine-tune job, starting from a pre-training job's checkpoint (`pretrained`), from
    imported weights, or from scratch; `frozen`: the frozen-encoder probe. Its key hashes the start:
    the pre-training job's key, or the imported file's sha256 and what it transfers (not its path,
    so a moved file is not re-run), and the probe (only when it is one, so full fine-tuning keeps its keys)."""
    part = splits.ratio(ratio, seed)
    hashed = {
        **common, "kind": "finetune", "method": method, "seed": ft_seed, "recipe": config.finetune,
        "pretrained": pretrained, "train_ids": part.finetune_train, "val_ids": part.finetune_val,
        "test_ids": splits.test,
    }
    if imported is not None:  # only then, so the keys of every method's jobs stay what they were
        hashed["external"] = {"sha256": imported.sha256, "transfers": imported.transfers}  # "external": keeps keys
    if frozen:
        hashed["frozen_encoder"] = True
    key = f"finetune-{method}-{stable_hash(hashed)}"
    spec = FinetuneSpec(config.finetune, tuple(part.finetune_train), tuple(part.finetune_val), tuple(splits.test),
                        pretrained, 0 if imported is not None else len(part.pretrain), imported, frozen)
    return Job(key, "finetune", method, seed, ratio.pt, ratio.ft, ratio.label, (pretrained,) if pretrained else (),
               job_seed=ft_seed, **shared, finetune=spec)


def score_job(finetune: Job, test_set: ExternalTestRef) -> Job:
    """The job scoring `finetune`'s model on `test_set`: its key hashes the fine-tune job (which hashes
    everything the model came from) and the set's name and content."""
    hashed = {"harness": HARNESS_VERSION, "kind": "score", "finetune": finetune.key,
              "test_set": [test_set.name, test_set.fingerprint]}
    key = f"score-{finetune.method}-{stable_hash(hashed)}"
    return dataclasses.replace(finetune, key=key, kind="score", depends_on=(finetune.key,), finetune=None,
                               score=ScoreSpec(finetune.key, test_set))
