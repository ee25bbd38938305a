"""Format 'nnunet': an nnU-Net raw dataset, imagesTr/CASE_0000.png|tif + labelsTr/CASE.png|tif
(+ imagesTs/ and labelsTs/, the dataset's own test split), with its dataset.json: 2-D, one input
channel, labels background 0 and one vessel class 1. Images may be 32-bit float TIFF, as
`angiobench data export-nnunet` writes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from benchmark.data.dataset import LabelledDataset
from benchmark.data.images import list_images, natural_key
from benchmark.data.readers._files import fingerprint_files, listing, parse_json_object
from benchmark.data.readers._scan import DatasetScan, FilePairs, split_unique_ids
from benchmark.data.readers.registry import DatasetFormat
from benchmark.core.errors import BenchmarkError

#: The one input channel's file-name suffix: imagesTr/CASE_0000.png.
NNUNET_CHANNEL = "_0000"
NNUNET_FILE_ENDINGS = (".png", ".tif", ".tiff")


@dataclass(frozen=True)
class NnunetMeta:
    """What a 2-D binary nnU-Net dataset.json must say for angiobench to read it."""

    file_ending: str
    num_training: int | None


def read_nnunet_meta(path: Path) -> NnunetMeta:
    """Parse dataset.json: one input channel, a 2-D file ending, labels background 0 and one class."""
    if not path.is_file():
        raise BenchmarkError(f"{path}: missing; an nnU-Net raw dataset needs its dataset.json")
    meta = parse_json_object(path)
    ending = meta.get("file_ending")
    if not isinstance(ending, str) or ending.lower() not in NNUNET_FILE_ENDINGS:
        raise BenchmarkError(f"{path}: file_ending {ending!r}; angiobench reads 2-D "
                             f"{', '.join(NNUNET_FILE_ENDINGS)} nnU-Net datasets")
    channels = meta.get("channel_names", meta.get("modality"))
    if not isinstance(channels, dict) or len(channels) != 1:
        raise BenchmarkError(f"{path}: channel_names must list exactly one input channel, got {channels!r}")
    labels = meta.get("labels")
    if (not isinstance(labels, dict) or len(labels) != 2
            or sorted(v for v in labels.values() if isinstance(v, int)) != [0, 1]):
        raise BenchmarkError(f"{path}: labels must be background 0 and one vessel class 1, got {labels!r}")
    count = meta.get("numTraining")
    return NnunetMeta(ending.lower(), count if isinstance(count, int) else None)


def _nnunet_cases(folder: Path, ending: str, problems: list[str]) -> dict[str, Path]:
    """Case id → image file of an images folder: CASE_0000<ending>; other channels are a problem."""
    cases: dict[str, Path] = {}
    for path in list_images(folder):
        if not path.name.lower().endswith(ending):
            continue
        stem = path.name[: -len(ending)]
        case, channel = stem[:-5], stem[-5:]
        if len(stem) > 5 and channel == NNUNET_CHANNEL:
            cases[case] = path
        elif len(stem) > 5 and channel[0] == "_" and channel[1:].isdigit():
            problems.append(f"{path}: input channel {int(channel[1:])}; angiobench reads one channel (_0000)")
        else:
            problems.append(f"{path}: not named CASE_0000{ending} (nnU-Net's image naming)")
    return cases


def _nnunet_labels(folder: Path, ending: str) -> dict[str, Path]:
    return {p.name[: -len(ending)]: p for p in list_images(folder) if p.name.lower().endswith(ending)}


def scan(root: Path) -> DatasetScan:
    """imagesTr/ + labelsTr/ (group 'train'), and imagesTs/ + labelsTs/ (group 'test') when both are there."""
    meta = read_nnunet_meta(root / "dataset.json")
    problems: list[str] = []
    notes: list[str] = [f"layout: nnU-Net raw, file ending {meta.file_ending}"]
    parts = [("train", root / "imagesTr", root / "labelsTr")]
    images_ts, labels_ts = root / "imagesTs", root / "labelsTs"
    if labels_ts.is_dir() and not images_ts.is_dir():
        problems.append(f"{labels_ts}: labels with no imagesTs/ folder")
    elif images_ts.is_dir() and labels_ts.is_dir():
        parts.append(("test", images_ts, labels_ts))
        notes.append("imagesTs/ + labelsTs/: the dataset's own test split (group 'test')")
    elif images_ts.is_dir():
        notes.append("imagesTs/ has no labelsTs/: not read (no masks)")
    stems: list[str] = []
    groups: list[str] = []
    image_files: list[Path] = []
    mask_files: list[Path] = []
    for group, image_dir, label_dir in parts:
        if not image_dir.is_dir() or not label_dir.is_dir():
            raise BenchmarkError(f"{root}: nnU-Net layout needs {image_dir.name}/ and {label_dir.name}/")
        cases = _nnunet_cases(image_dir, meta.file_ending, problems)
        labels = _nnunet_labels(label_dir, meta.file_ending)
        lonely = sorted((cases[c].name for c in cases if c not in labels), key=natural_key)
        if lonely:
            problems.append(f"{image_dir}: {len(lonely)} image(s) with no label in {label_dir}: {listing(lonely)}")
        unmatched = sorted((labels[c].name for c in labels if c not in cases), key=natural_key)
        if unmatched:
            problems.append(f"{label_dir}: {len(unmatched)} label(s) with no image in {image_dir}: "
                            f"{listing(unmatched)}")
        if group == "train" and meta.num_training is not None and meta.num_training != len(labels):
            problems.append(f"{root / 'dataset.json'}: numTraining is {meta.num_training} but "
                            f"{label_dir} holds {len(labels)} label(s)")
        for case in sorted((c for c in cases if c in labels), key=natural_key):
            stems.append(case)
            groups.append(group)
            image_files.append(cases[case])
            mask_files.append(labels[case])
    if not stems and not problems:
        raise BenchmarkError(f"{root / 'imagesTr'}: no image files")
    ids = split_unique_ids(stems, groups)
    hashed = [(p.relative_to(root).as_posix(), p) for p in [root / "dataset.json", *image_files, *mask_files]]
    dataset = LabelledDataset(ids=ids, loader=FilePairs(tuple(image_files), tuple(mask_files), float_images=True),
                              source=f"nnunet:{root}", fingerprint=fingerprint_files(hashed, "nnunet"),
                              groups=groups)
    return DatasetScan(dataset, "nnunet", problems, notes)


FORMAT = DatasetFormat(name="nnunet", layout="imagesTr/ + labelsTr/", detect=lambda root: (root / "imagesTr").is_dir(),
                       scan=scan)
