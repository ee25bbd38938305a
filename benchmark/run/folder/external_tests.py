"""External test sets in a run: other labelled datasets every fine-tuned model is also scored on,
never trained or selected on. Opening and pre-processing them as the run's own images, and the
checks that keep them honest: the same size as the run's images, no image shared with what a job
trains on, content unchanged since the run scored it, and a config that only adds sets.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass

import numpy as np

from benchmark.config.run_config import DataConfig, RunConfig
from benchmark.data.dataset import LabelledDataset
from benchmark.data.external import ExternalTestRef, ExternalTestSource, parse_external_tests
from benchmark.data.preprocess import preprocess_pair
from benchmark.data.readers import load_dataset
from benchmark.data.duplicates import TwinFinder
from benchmark.core.errors import BenchmarkError
from benchmark.core.progress import Progress
from benchmark.run.folder.store import RunStore


@dataclass
class ExternalTestData:
    """One external test set, pre-processed exactly as the run's own images."""

    name: str
    ids: list[str]
    images: np.ndarray
    masks: np.ndarray
    fingerprint: str


def external_sources(data: DataConfig) -> tuple[ExternalTestSource, ...]:
    return parse_external_tests(data.external_tests, data.source, "data.external_tests")


def open_external(test: ExternalTestSource, mask_threshold: int | None) -> LabelledDataset:
    """The set's dataset (any format, detected), its grey masks binarised at the run's threshold."""
    try:
        dataset = load_dataset(test.path, mask_threshold=mask_threshold)
    except BenchmarkError as error:
        raise BenchmarkError(f"external test set {test.name!r}: {error}") from None
    if len(dataset) == 0:
        raise BenchmarkError(f"external test set {test.name!r} ({test.path}): no labelled images")
    return dataset


def external_refs(data: DataConfig) -> tuple[ExternalTestRef, ...]:
    """What the job keys need of each external set: its name, content fingerprint and size."""
    refs = []
    for test in external_sources(data):
        dataset = open_external(test, data.mask_threshold)
        refs.append(ExternalTestRef(test.name, dataset.fingerprint, len(dataset)))
    return tuple(refs)


def prepare_external(test: ExternalTestSource, config: RunConfig, progress: Progress | None) -> ExternalTestData:
    """Every image of an external set (all of its splits: none is trained on), pre-processed as the run's."""
    dataset = open_external(test, config.data.mask_threshold)
    images, masks = [], []
    for i in range(len(dataset)):
        try:
            image, mask = preprocess_pair(*dataset[i], config.preprocess)
        except BenchmarkError as error:
            raise BenchmarkError(f"external test set {test.name!r}, image {dataset.ids[i]}: {error}") from None
        images.append(image)
        masks.append(mask)
        if progress:
            progress(i + 1, len(dataset), f"pre-processing {test.name}")
    return ExternalTestData(test.name, list(dataset.ids), np.stack(images).astype(np.float32),
                            np.stack(masks).astype(bool), dataset.fingerprint)


def check_external_sizes(external: tuple[ExternalTestData, ...], side: tuple[int, ...]) -> None:
    for test in external:
        if test.images.shape[1:] != side:
            raise BenchmarkError(f"external test set {test.name!r}: images are {test.images.shape[1:]} after "
                                 f"pre-processing, the run's are {side}; set preprocess.size")


def check_external_disjoint(external: tuple[ExternalTestData, ...], ids: list[str], images: np.ndarray,
                            extra: np.ndarray, test_ids: list[str]) -> None:
    """Refuse an external test image that some job trains on: one identical or nearly identical
    (benchmark.data.duplicates), after pre-processing, to a run image (`ids`, `images`) outside its
    test split (`test_ids`) or in its unlabelled pool (`extra`). (One equal to a test image is only
    scored twice, which leaks nothing.)"""
    if not external:
        return
    test = set(test_ids)
    names = [image_id for image_id in ids if image_id not in test] + [f"unlabelled pool image {n}"
                                                                       for n in range(len(extra))]
    pictures = [image for image_id, image in zip(ids, images) if image_id not in test] + list(extra)
    finder = TwinFinder(names, pictures)
    for external_set in external:
        finder.refuse_twins(zip(external_set.ids, external_set.images), lambda image_id, twin, near: (
            f"external test set {external_set.name!r}: image {image_id} is "
            f"{'a near duplicate of the run' if near else 'the run'}'s image {twin}, which is trained on; an "
            "external set must not share images with the run's training data"))


def check_scored_sets_unchanged(prepared: tuple[ExternalTestData, ...], planned: tuple[ExternalTestRef, ...]) -> None:
    """Refuse going on with an external set whose files changed since the run prepared (and scored) it."""
    have = {test.name: test.fingerprint for test in prepared}
    for ref in planned:
        if ref.name in have and have[ref.name] != ref.fingerprint:
            raise BenchmarkError(f"external test set {ref.name!r} has changed since this run scored it; "
                                 "name the new content differently (NAME=PATH), or choose another --out")


def _without_external_tests(config_toml: str) -> tuple[dict, list[str]]:
    table = tomllib.loads(config_toml)
    return table, list(table.get("data", {}).pop("external_tests", []))


def adds_external_tests(store: RunStore, config_toml: str) -> bool:
    """Whether `config_toml` is the folder's run with external test sets added (and none removed):
    a run that can go on, scoring its models on the new sets; removing one is refused, naming it."""
    old, old_sets = _without_external_tests(store.config_path.read_text())
    new, new_sets = _without_external_tests(config_toml)
    if old != new or old_sets == new_sets:
        return False
    removed = [entry for entry in old_sets if entry not in new_sets]
    if removed:
        raise BenchmarkError(f"{store.root} scored its models on the external test set(s) {', '.join(removed)}; "
                             "keep them in data.external_tests / --external-test, or choose another --out")
    return True
