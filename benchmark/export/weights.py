"""`angiobench export`: a run's pre-trained (and fine-tuned) UNet as safetensors with a model card,
and `load_unet`, the one call that reads such a folder back.

    OUT/pretrained.safetensors   the UNet the method's pre-training transfers (absent for supervised), its
                                 metadata saying what (`angiobench run --pretrained NAME=OUT` takes the same)
    OUT/finetuned.safetensors    with --ratio: the fine-tuned UNet of that ratio (the one the rows score)
    OUT/model_card.json          ModelCard: what load_unet and `angiobench predict` read
    OUT/MODEL_CARD.md            the same card for a person

Choosing the job: a fine-tune job is named by (method, ratio, seed), a pre-training job by (method,
seed) and, where the method pre-trains once per ratio's pre-training set, the ratio. When a run holds
several seeds (or pre-training sets) and the choice does not name one, export refuses and lists the
choices rather than picking one silently. safetensors holds tensors only (no pickled code), so an
export is safe to load from anyone.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pandas as pd
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file

from benchmark.config.run_config import load_config
from benchmark.data.external import IN_DOMAIN
from benchmark.data.splits import Ratio
from benchmark.core.dataclass_io import build, to_plain
from benchmark.core.errors import BenchmarkError
from benchmark.evaluate.metric_keys import METRIC_KEYS
from benchmark.export.card import CARD_JSON, CARD_MARKDOWN, ModelCard, TestScores, dataset_info
from benchmark.core.files import atomic_write_text, staged_folder
from benchmark.model.unet import Transfer, UNet, UNetConfig
from benchmark.run.folder.job_status import Provenance
from benchmark.run.plan.jobs import Job
from benchmark.run.folder.provenance import versions
from benchmark.run.folder.store import RunStore
from benchmark.model.unet_file import FINETUNED_FILE, PRETRAINED_FILE, WEIGHTS_FORMAT, save_unet_weights
from methods import registry
Which = Literal["auto", "finetuned", "pretrained"]


@dataclass(frozen=True)
class ExportChoice:
    """Which model of a run to export: a method, and optionally the ratio (→ fine-tuned too) and seed."""

    method: str
    ratio: str | None = None
    seed: int | None = None


@dataclass(frozen=True)
class Export:
    """What an export wrote."""

    root: Path
    card: ModelCard


def _one(jobs: list[Job], what: str, option: str, value_of) -> Job:
    """The single job left, or an error listing the values of `option` that would choose one."""
    values = sorted({value_of(j) for j in jobs}, key=str)
    if len(values) > 1:
        raise BenchmarkError(f"{what}: several {option[2:]}s in the run ({', '.join(map(str, values))}); "
                             f"choose one with {option}")
    return jobs[0]


def _narrow(jobs: list[Job], choice: ExportChoice, what: str) -> Job:
    if choice.seed is not None:
        seeds = sorted({j.seed for j in jobs})
        jobs = [j for j in jobs if j.seed == choice.seed]
        if not jobs:
            raise BenchmarkError(f"{what}: no seed {choice.seed} in the run (seeds: {', '.join(map(str, seeds))})")
    _one(jobs, what, "--seed", lambda j: j.seed)
    return _one(jobs, what, "--ratio", lambda j: j.ratio)


def choose_jobs(store: RunStore, choice: ExportChoice) -> tuple[Job | None, Job | None]:
    """(pre-training job, fine-tune job) of `choice`; either may be None, never both. Both must be done."""
    jobs = [store.read_job(key) for key in store.job_keys()]
    of_method = [j for j in jobs if j.method == choice.method]
    if not of_method:
        methods = sorted({j.method for j in jobs})
        raise BenchmarkError(f"--method {choice.method}: not in the run {store.root} "
                             f"(methods: {', '.join(methods) or 'none'})")
    what = f"--method {choice.method}"
    if choice.ratio is None:
        pretrains = [j for j in of_method if j.kind == "pretrain"]
        imported = next((j.finetune.imported for j in of_method if j.finetune and j.finetune.imported), None)
        if imported is not None:
            raise BenchmarkError(f"{what}: {choice.method} was pre-trained outside the run ({imported.file}, "
                                 f"sha256 {imported.sha256[:12]}…); pass --ratio R to export its fine-tuned UNet")
        if not pretrains:
            raise BenchmarkError(f"{what}: {choice.method} has no pre-training; pass --ratio R to export "
                                 "its fine-tuned UNet")
        pretrain, finetune = _narrow(pretrains, choice, what), None
    else:
        label = Ratio.parse(choice.ratio).label
        finetunes = [j for j in of_method if j.kind == "finetune" and j.ratio == label]
        if not finetunes:
            ratios = sorted({j.ratio for j in of_method if j.kind == "finetune"})
            raise BenchmarkError(f"--ratio {choice.ratio}: no {choice.method} fine-tune job at that ratio "
                                 f"(ratios: {', '.join(ratios)})")
        finetune = _narrow(finetunes, choice, f"{what} --ratio {label}")
        pretrain = store.read_job(finetune.finetune.pretrained) if finetune.finetune.pretrained else None
    for job in (pretrain, finetune):
        if job is not None and store.state(job.key) != "done":
            raise BenchmarkError(f"job {job.key} ({job.label}) is {store.state(job.key)}, not done; "
                                 "finish the run first (`angiobench status` tells why)")
    return pretrain, finetune


def _test_scores(store: RunStore, key: str) -> dict[str, TestScores]:
    """Metric means of a fine-tune job's model per test set: its own rows (in-domain) and those of
    every finished score job of that model (one per external set)."""
    jobs = (store.read_job(k) for k in store.job_keys())
    scored = [j.key for j in jobs if j.score is not None and j.score.finetune == key and store.state(j.key) == "done"]
    frames = [pd.read_parquet(store.rows_path(k)) for k in [key, *scored]]
    scores = {}
    for rows in frames:
        name = str(rows["test_set"].iloc[0]) if "test_set" in rows.columns and len(rows) else IN_DOMAIN
        scores[name] = TestScores(len(rows), {m: float(rows[m].mean()) for m in METRIC_KEYS if m in rows.columns})
    return scores


def _transfers(pretrain: Job | None, finetune: Job | None) -> Transfer | None:
    """What fine-tuning takes (took) from the pre-trained weights: the imported file's, or the
    method's contract (None for a method no longer registered, or nothing pre-trained)."""
    if finetune is not None and finetune.finetune.imported is not None:
        return finetune.finetune.imported.transfers
    method = registry().get(pretrain.method) if pretrain is not None else None
    return method.transfers if method is not None else None


def export_model(run_dir: Path | str, choice: ExportChoice, out: Path | str) -> Export:
    """Write the chosen model(s) of a finished run, with the model card, to the new folder `out`."""
    store = RunStore(run_dir)
    if not store.is_run():
        raise BenchmarkError(f"{store.root}: not an angiobench run folder (no config.toml)")
    pretrain, finetune = choose_jobs(store, choice)
    main = finetune or pretrain
    source = load_config(store.config_path).data
    made = store.read_status(main.key).provenance or Provenance()
    scores = _test_scores(store, finetune.key) if finetune else {}
    imported = finetune.finetune.imported if finetune else None
    transfers = _transfers(pretrain, finetune)
    card = ModelCard(
        method=main.method, protocol=main.protocol, seed=main.seed, unet=main.unet, preprocess=main.preprocess,
        data_fingerprint=main.data, splits_hash=hashlib.sha256(store.splits_path.read_bytes()).hexdigest()[:16],
        dataset=dataset_info(source.source, source.format), exported_with=versions(),
        pretrained_file=PRETRAINED_FILE if pretrain else None, finetuned_file=FINETUNED_FILE if finetune else None,
        pretrain_job=pretrain.key if pretrain else None,
        pretrain_recipe=pretrain.pretrain.recipe if pretrain else None,
        pretrain_images=len(pretrain.pretrain.image_ids) if pretrain else 0,
        method_settings=(to_plain(pretrain.pretrain.settings) or {}) if pretrain else {},
        pretrained_sha256=imported.sha256 if imported else None, transfers=transfers,
        finetune_job=finetune.key if finetune else None, ratio=finetune.ratio if finetune else None,
        finetune_recipe=finetune.finetune.recipe if finetune else None,
        finetune_images=(len(finetune.finetune.train_ids), len(finetune.finetune.val_ids)) if finetune else None,
        test=scores.pop(IN_DOMAIN, None), external_tests=scores,
        trained_with=f"{made.versions}; commit {made.git_commit or 'unknown'}",
        precision=made.precision,
    )
    with staged_folder(out) as staging:
        if pretrain is not None:  # with what it transfers, so `run --pretrained NAME=OUT` takes the same
            save_unet_weights(staging / PRETRAINED_FILE, store.read_checkpoint(pretrain.key), pretrain.unet, transfers)
        if finetune is not None:
            save_unet_weights(staging / FINETUNED_FILE, store.read_checkpoint(finetune.key), finetune.unet)
        atomic_write_text(staging / CARD_JSON, card.to_json())
        atomic_write_text(staging / CARD_MARKDOWN, card.to_markdown())
    return Export(Path(out), card)


def _read_weights(path: Path, expected: UNetConfig) -> dict[str, torch.Tensor]:
    try:
        state = load_file(str(path))
        with safe_open(str(path), "pt") as handle:
            metadata = handle.metadata() or {}
    except FileNotFoundError:
        raise BenchmarkError(f"{path}: missing; the model card names it") from None
    except (SafetensorError, OSError, ValueError) as error:
        raise BenchmarkError(f"{path}: not a readable safetensors file ({error})") from None
    if metadata.get("format") != WEIGHTS_FORMAT:
        raise BenchmarkError(f"{path}: not angiobench UNet weights (format {metadata.get('format')!r})")
    stored = build(UNetConfig, json.loads(metadata.get("unet", "{}")), str(path))
    if stored != expected:
        raise BenchmarkError(f"{path}: weights of UNet {stored}, but the model card says {expected}")
    return state


def load_unet(folder: Path | str, which: Which = "auto") -> tuple[UNet, ModelCard]:
    """The exported UNet (in eval mode, on the CPU) and its card: `unet, card = load_unet("OUT")`.

    `which="auto"` gives the fine-tuned UNet when the export has one, else the pre-trained one.
    A folder that is not an export, or weights of another UNet shape, is a BenchmarkError naming the file.
    """
    folder = Path(folder)
    card = ModelCard.read(folder)
    name = {"auto": card.finetuned_file or card.pretrained_file, "finetuned": card.finetuned_file,
            "pretrained": card.pretrained_file}[which]
    if name is None:
        raise BenchmarkError(f"{folder}: the export holds no {which} UNet (it was exported "
                             f"{'without --ratio' if which == 'finetuned' else 'from a method without pre-training'})")
    path = folder / name
    state = _read_weights(path, card.unet)
    unet = UNet(card.unet)
    try:
        unet.load_state_dict(state, strict=True)
    except RuntimeError as error:
        first = str(error).strip().splitlines()
        raise BenchmarkError(f"{path}: does not fit a UNet {card.unet} ({' '.join(first[:2])})") from None
    return unet.eval(), card
