"""A run's data, prepared once: the source opened, every image pre-processed, the splits drawn
(external test sets: benchmark.run.folder.external_tests).

The driver prepares and caches it in the run folder; every job (in whatever process or SLURM node)
loads the same arrays and the same splits, so every method sees identical data.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmark.config.run_config import DataConfig, RunConfig
from benchmark.data.dataset import LabelledDataset, UnlabelledDataset
from benchmark.data.duplicates import TwinFinder, duplicate_groups
from benchmark.data.external import ExternalTestRef
from benchmark.data.preprocess import preprocess_image, preprocess_pair
from benchmark.data.readers import load_dataset, load_unlabelled
from benchmark.data.splits import Splits, make_splits
from benchmark.data.synthetic import synthetic_dataset
from benchmark.core.errors import BenchmarkError
from benchmark.core.files import atomic_write_bytes
from benchmark.core.progress import Progress
from benchmark.run.folder.external_tests import (ExternalTestData, adds_external_tests, check_external_disjoint,
                                          check_external_sizes, check_scored_sets_unchanged, external_refs,
                                          external_sources, prepare_external)
from benchmark.run.folder.store import RunStore


@dataclass
class RunData:
    """Pre-processed labelled images (float32 N×S×S, z-scored), masks, ids, source groups, extra pool,
    and the external test sets (scored only, never trained or selected on)."""

    ids: list[str]
    groups: list[str]
    images: np.ndarray
    masks: np.ndarray
    extra: np.ndarray  # unlabelled images for pre-training only, M×S×S
    fingerprint: str
    external: tuple[ExternalTestData, ...] = ()
    extra_ids: tuple[str, ...] = ()  # the pool's file stems, to name an image in an error

    def index(self, ids: list[str]) -> np.ndarray:
        position = {i: n for n, i in enumerate(self.ids)}
        return np.array([position[i] for i in ids], dtype=np.int64)

    def external_set(self, ref: ExternalTestRef) -> ExternalTestData:
        """The prepared external set a job names, refusing one whose content is not the planned one."""
        for test in self.external:
            if test.name == ref.name:
                if test.fingerprint != ref.fingerprint:
                    raise BenchmarkError(f"external test set {ref.name!r} was planned on data {ref.fingerprint}, "
                                         f"but the prepared one is {test.fingerprint}; plan the run again")
                return test
        raise BenchmarkError(f"external test set {ref.name!r} is not in the run folder's prepared data; "
                             "plan the run again")


@dataclass(frozen=True)
class SourceIndex:
    """What the splits and job keys need of a source, known without reading a single image."""

    ids: list[str]
    groups: list[str]
    fingerprint: str
    extra_count: int
    external: tuple[ExternalTestRef, ...] = ()
    twins: tuple[tuple[str, ...], ...] = ()  # groups of duplicate images, kept together by the splits


def open_source(data: DataConfig) -> LabelledDataset:
    if data.source == "synthetic":
        return synthetic_dataset(data.synthetic_count, data.synthetic_size, data.synthetic_seed)
    return load_dataset(data.source, data.format, data.mask_threshold)


def _combined_fingerprint(dataset: LabelledDataset, pool: UnlabelledDataset | None) -> str:
    if pool is None:
        return dataset.fingerprint
    return hashlib.sha256(f"{dataset.fingerprint}+{pool.fingerprint}".encode()).hexdigest()[:16]


def index_source(config: RunConfig) -> SourceIndex:
    """The source's ids, groups and fingerprint, and its groups of duplicate images (which reads the
    images once: the splits keep each group on one side)."""
    dataset = open_source(config.data)
    pool = load_unlabelled(config.data.unlabelled) if config.data.unlabelled else None
    external = external_refs(config.data)
    twins = duplicate_groups(dataset.ids, (dataset[i][0] for i in range(len(dataset))))
    return SourceIndex(list(dataset.ids), list(dataset.groups), _combined_fingerprint(dataset, pool),
                       len(pool) if pool is not None else 0, external, tuple(tuple(g) for g in twins))


def prepare(config: RunConfig, progress: Progress | None = None) -> RunData:
    """Read and pre-process every image of the source (and of the unlabelled pool)."""
    dataset = open_source(config.data)
    if len(dataset) == 0:
        raise BenchmarkError(f"--data {config.data.source}: no images")
    images, masks = [], []
    for i in range(len(dataset)):
        image, mask = preprocess_pair(*dataset[i], config.preprocess)
        images.append(image)
        masks.append(mask)
        if progress:
            progress(i + 1, len(dataset), "pre-processing")
    pool = load_unlabelled(config.data.unlabelled) if config.data.unlabelled else None
    extra = [preprocess_image(pool[i], config.preprocess) for i in range(len(pool))] if pool else []
    fingerprint = _combined_fingerprint(dataset, pool)
    sizes = {im.shape for im in images} | {im.shape for im in extra}
    if len(sizes) > 1:
        raise BenchmarkError(f"--data {config.data.source}: images differ in size after pre-processing "
                             f"({sorted(sizes)}); set preprocess.size")
    side = images[0].shape
    external = tuple(prepare_external(t, config, progress) for t in external_sources(config.data))
    check_external_sizes(external, side)
    return RunData(
        ids=list(dataset.ids), groups=list(dataset.groups),
        images=np.stack(images).astype(np.float32), masks=np.stack(masks).astype(bool),
        extra=np.stack(extra).astype(np.float32) if extra else np.zeros((0, *side), np.float32),
        fingerprint=fingerprint, external=external, extra_ids=tuple(pool.ids) if pool else (),
    )


_EXTERNAL_FIELDS = ("ids", "images", "masks", "fingerprint")


def save(path: Path, data: RunData) -> None:
    buffer = io.BytesIO()
    external = {f"external{n}_{name}": np.array(getattr(test, name))
                for n, test in enumerate(data.external) for name in _EXTERNAL_FIELDS}
    np.savez(buffer, ids=np.array(data.ids), groups=np.array(data.groups), images=data.images,
             masks=data.masks, extra=data.extra, extra_ids=np.array(data.extra_ids, dtype=str),
             fingerprint=np.array(data.fingerprint),
             external_names=np.array([t.name for t in data.external], dtype=str), **external)
    atomic_write_bytes(path, buffer.getvalue())


def load(path: Path) -> RunData:
    """The prepared data `save` wrote; a file without one of its arrays (prepared by an earlier
    version) is refused, naming the array."""
    with np.load(path) as f:
        missing = [key for key in ("ids", "groups", "images", "masks", "extra", "extra_ids", "fingerprint",
                                   "external_names") if key not in f.files]
        if missing:
            raise BenchmarkError(f"{path}: prepared by an earlier version (no {missing[0]!r}); pass --force to "
                                 "prepare the run again")
        names = f["external_names"].tolist()
        external = tuple(
            ExternalTestData(name, f[f"external{n}_ids"].tolist(), f[f"external{n}_images"],
                             f[f"external{n}_masks"], str(f[f"external{n}_fingerprint"]))
            for n, name in enumerate(names)
        )
        return RunData(
            ids=f["ids"].tolist(), groups=f["groups"].tolist(), images=f["images"], masks=f["masks"],
            extra=f["extra"], fingerprint=str(f["fingerprint"]), external=external,
            extra_ids=tuple(f["extra_ids"].tolist()),
        )


def draw_splits(config: RunConfig, data: SourceIndex) -> Splits:
    """The run's splits; a source with its own 'test' group (ARCADE) uses it unless told otherwise.

    `test_split = "apart"` (what `calibrate` uses) leaves out every image a default run ("dataset")
    of the same data and split seed tests on, and draws its own test split from the rest with the next
    seed: a budget chosen there is never judged on the images the answer is scored on."""
    ids = list(data.ids)
    if config.data.test_split == "apart":
        answer = draw_splits(dataclasses.replace(config, data=dataclasses.replace(config.data, test_split="dataset")),
                             data)
        left_out = set(answer.test)
        ids = [i for i in ids if i not in left_out]
    test_ids = None
    if config.data.test_split == "dataset" and "test" in data.groups:
        test_ids = [i for i, g in zip(data.ids, data.groups) if g == "test"]
    return make_splits(
        ids, list(config.ratios), seed=config.data.split_seed + (config.data.test_split == "apart"),
        test_fraction=config.data.test_fraction, val_fraction=config.data.val_fraction,
        fingerprint=data.fingerprint, test_ids=test_ids,
        seeds=config.seeds if config.data.labelled_splits == "per-seed" else (), twins=data.twins,
    )


def check_unlabelled_disjoint(data: RunData, splits: Splits, pool_path: str) -> None:
    """Refuse an unlabelled pool image identical or nearly identical (benchmark.data.duplicates),
    after pre-processing, to a test image: pre-training on it would let every method see the test
    set, so no result of the run could be trusted."""
    in_test = set(splits.test)
    test_ids = [image_id for image_id in data.ids if image_id in in_test]
    test_images = data.images[data.index(test_ids)] if test_ids else data.images[:0]
    finder = TwinFinder(test_ids, test_images)
    finder.refuse_twins(zip(data.extra_ids, data.extra), lambda image_id, twin, near: (
        f"data.unlabelled ({pool_path}): image {image_id} is "
        f"{'nearly identical (a near duplicate)' if near else 'identical'}, after pre-processing, to test image "
        f"{twin}; remove it from the pool (a test image must never be pre-trained on)"))


def _check_disjoint(config: RunConfig, data: RunData, splits: Splits) -> None:
    if config.data.unlabelled:
        check_unlabelled_disjoint(data, splits, str(config.data.unlabelled))
    check_external_disjoint(data.external, data.ids, data.images, data.extra, splits.test)


def prepare_run(config: RunConfig, store: RunStore, force: bool = False,
                progress: Progress | None = None) -> tuple[RunData, Splits]:
    """Claim the run folder and give its data and splits: from the folder when it resumes this run,
    else read, checked and pre-processed first and written only then.

    Everything that can refuse the run (the dataset's listing and annotations, the ratios against
    its test split, an unreadable image, a folder of another config) does so before the folder is
    touched, so a failed start creates and changes nothing.
    """
    index = index_source(config)
    splits = draw_splits(config, index)  # every ratio checked against this dataset's split
    config_toml = config.to_toml()
    if not force and store.is_run() and not store.is_debris() and adds_external_tests(store, config_toml):
        return _add_external_tests(config, store, index, progress)
    if store.resumes(config_toml, force) and store.prepared_path.is_file() and store.splits_path.is_file():
        data = load(store.prepared_path)
        check_scored_sets_unchanged(data.external, index.external)
        return data, Splits.load(store.splits_path)
    data = prepare(config, progress)
    _check_disjoint(config, data, splits)
    existed = store.root.exists()
    try:
        store.claim(config_toml, force)
        save(store.prepared_path, data)
        splits.save(store.splits_path)
    except BaseException:
        if not existed and store.root.exists():
            shutil.rmtree(store.root)  # only what this call created
        raise
    return data, splits


def _add_external_tests(config: RunConfig, store: RunStore, index: SourceIndex,
                        progress: Progress | None) -> tuple[RunData, Splits]:
    """Pre-process the external sets the folder's run does not have yet, add them to its prepared
    data, and record the config that names them; nothing trained is touched (prepared data first,
    config last, so an interrupted call is simply redone)."""
    if not (store.prepared_path.is_file() and store.splits_path.is_file()):
        raise BenchmarkError(f"{store.root}: the run's prepared data is missing; pass --force to start again")
    data, splits = load(store.prepared_path), Splits.load(store.splits_path)
    check_scored_sets_unchanged(data.external, index.external)
    have = {test.name: test for test in data.external}
    sources = external_sources(config.data)
    added = {t.name: prepare_external(t, config, progress) for t in sources if t.name not in have}
    data = dataclasses.replace(data, external=tuple(have.get(t.name) or added[t.name] for t in sources))
    check_external_sizes(data.external, data.images.shape[1:])
    check_external_disjoint(data.external, data.ids, data.images, data.extra, splits.test)
    save(store.prepared_path, data)
    store.replace_config(config.to_toml())
    return data, splits
