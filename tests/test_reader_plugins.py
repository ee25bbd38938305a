"""Dataset formats are plug-ins: a module dropped into benchmark/data/readers/ is found by discovery
and then read by everything that names or reads formats (scan, load, auto-detection, `data
inspect`, config validation, the model card), with no other edit."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from benchmark.cli import app
from benchmark.config.run_config import build_config
from benchmark.data.inspection import inspect_dataset
from benchmark.data.readers import check_format, detect_format, format_names, formats, load_dataset, scan_dataset
from benchmark.core.errors import BenchmarkError
from benchmark.export.card import dataset_info

PACKAGE = "benchmark.data.readers"
ROOT = Path(__file__).resolve().parents[1]

#: A toy format: pairs.csv lists `image,mask` file names, one pair a line, in the dataset's order.
MANIFEST = '''
    """Format 'manifest': pairs.csv lists image,mask file names, one pair a line."""

    from __future__ import annotations

    from pathlib import Path

    from benchmark.data.dataset import LabelledDataset
    from benchmark.data.readers._files import fingerprint_files
    from benchmark.data.readers._scan import DatasetScan, FilePairs
    from benchmark.data.readers.registry import DatasetFormat, KnownDataset


    def scan(root: Path) -> DatasetScan:
        rows = [line.split(",") for line in (root / "pairs.csv").read_text().split()]
        found = [(root / i, root / m) for i, m in rows if (root / i).is_file() and (root / m).is_file()]
        problems = [f"{root / 'pairs.csv'}: {i} or {m} is missing" for i, m in rows
                    if not ((root / i).is_file() and (root / m).is_file())]
        images, masks = tuple(i for i, _ in found), tuple(m for _, m in found)
        dataset = LabelledDataset(ids=[p.stem for p in images], loader=FilePairs(images, masks),
                                  source=f"manifest:{root}",
                                  fingerprint=fingerprint_files([(p.name, p) for p in images + masks], "manifest"))
        return DatasetScan(dataset, "manifest", problems, ["layout: pairs.csv"])


    FORMAT = DatasetFormat(name="manifest", layout="pairs.csv", detect=lambda root: (root / "pairs.csv").is_file(),
                           scan=scan, overrides=OVERRIDES, dataset=KnownDataset("Toy angiograms", "CC0"))
'''


@pytest.fixture
def drop(tmp_path, monkeypatch):
    """drop(name, source): what writing benchmark/data/readers/<name>.py does, without touching the
    source tree: the module lives in a folder that is added to the package's search path."""
    folder = tmp_path / "plugins"
    folder.mkdir()
    package = importlib.import_module(PACKAGE)
    monkeypatch.setattr(package, "__path__", [*package.__path__, str(folder)])
    monkeypatch.setattr(sys, "dont_write_bytecode", True)  # a rewritten module is never read from a stale .pyc
    dropped: list[str] = []

    def write(name: str, source: str) -> Path:
        sys.modules.pop(f"{PACKAGE}.{name}", None)
        path = folder / f"{name}.py"
        path.write_text(textwrap.dedent(source))
        importlib.invalidate_caches()
        dropped.append(name)
        return path

    yield write
    for name in dropped:
        sys.modules.pop(f"{PACKAGE}.{name}", None)


def manifest(overrides: tuple[str, ...] = ()) -> str:
    return MANIFEST.replace("OVERRIDES", repr(overrides))


def save(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path


def make_manifest_dataset(root: Path) -> Path:
    """b then a (the file's order, not the names'); a's mask covers 16 of 64 pixels, b's 32."""
    for stem, rows in (("a", 2), ("b", 4)):
        save(root / f"{stem}.png", np.full((8, 8), 10 * rows, np.uint8))
        mask = np.zeros((8, 8), np.uint8)
        mask[:rows] = 255
        save(root / f"{stem}-truth.png", mask)  # no mask suffix of the folder format's
    (root / "pairs.csv").write_text("b.png,b-truth.png\na.png,a-truth.png\n")
    return root


def test_a_dropped_format_module_is_listed_and_reads_a_dataset(drop, tmp_path):
    drop("manifest", manifest())
    root = make_manifest_dataset(tmp_path / "toy")
    assert format_names() == ("arcade", "folder", "manifest", "nnunet")
    assert detect_format(root) == "manifest"
    scan = scan_dataset(root)
    assert (scan.format, scan.dataset.ids, scan.problems, scan.notes) == ("manifest", ["b", "a"], [], ["layout: pairs.csv"])
    image, mask = scan.dataset[1]
    assert image.max() == 20 and mask.sum() == 16 and mask[:2].all()
    assert load_dataset(root, "manifest").fingerprint == scan.dataset.fingerprint


def test_inspect_and_the_command_line_read_a_dropped_format(drop, tmp_path):
    drop("manifest", manifest())
    root = make_manifest_dataset(tmp_path / "toy")
    (root / "pairs.csv").write_text("b.png,b-truth.png\na.png,a-truth.png\nc.png,c-truth.png\n")
    report = inspect_dataset(root)
    assert (report.format, report.count, report.sizes) == ("manifest", 2, {(8, 8): 2})
    assert report.vessel_fraction_mean == pytest.approx((16 + 32) / 2 / 64)
    assert report.problems == [f"{root / 'pairs.csv'}: c.png or c-truth.png is missing"]
    result = CliRunner().invoke(app, ["data", "inspect", str(root), "--format", "manifest"])
    assert result.exit_code == 1  # the missing pair is a problem
    lines = result.output.splitlines()  # the console wraps the long dataset line; the others are short
    assert "(manifest)" in result.output and {"layout: pairs.csv", "images: 2", "problems: 1"} <= set(lines)


def test_config_and_model_card_know_a_dropped_format(drop, tmp_path):
    drop("manifest", manifest())
    assert build_config({"data": {"format": "manifest"}}).data.format == "manifest"
    with pytest.raises(BenchmarkError, match=r"config: unknown dataset format 'manifst' \(option data\.format\) "
                                             r"\(did you mean 'manifest'\?\); choose one of auto, "
                                             r"arcade, folder, manifest, nnunet"):
        build_config({"data": {"format": "manifst"}})
    info = dataset_info(str(make_manifest_dataset(tmp_path / "toy")), "auto")
    assert (info.name, info.format, info.licence) == ("Toy angiograms", "manifest", "CC0")


def test_two_layouts_in_one_folder_are_an_error_unless_one_format_overrides_the_other(drop, tmp_path):
    root = make_manifest_dataset(tmp_path / "toy")
    save(root / "masks" / "a.png", np.zeros((8, 8), np.uint8))  # a.png + masks/a.png: a folder dataset too
    drop("manifest", manifest())
    with pytest.raises(BenchmarkError, match=r"several formats \(folder, manifest\); keep one, or choose with format"):
        detect_format(root)
    assert scan_dataset(root, "folder").dataset.ids == ["a"]  # naming the format settles it
    drop("manifest", manifest(overrides=("folder",)))
    assert detect_format(root) == "manifest"


def test_a_folder_of_no_format_lists_what_every_format_looks_for(drop, tmp_path):
    drop("manifest", manifest())
    save(tmp_path / "pics" / "a.png", np.zeros((8, 8), np.uint8))
    with pytest.raises(BenchmarkError) as caught:
        detect_format(tmp_path)
    message = str(caught.value)
    assert message.startswith(f"{tmp_path}: cannot tell the dataset format; expected syntax/ or annotations/*.json "
                              "(arcade), imgs/ (or images/) with a mask folder")
    assert message.endswith("(folder), pairs.csv (manifest), or imagesTr/ + labelsTr/ (nnunet)")


def test_helper_modules_are_not_formats_and_a_malformed_format_is_named(drop):
    drop("_toy_helpers", "VALUE = 1\n")
    assert "_toy_helpers" not in format_names()
    path = drop("broken", "'''A module that forgot its FORMAT.'''\n")
    with pytest.raises(BenchmarkError, match=rf"{path}: a dataset format module must define FORMAT"):
        formats()
    path = drop("broken", manifest())  # its FORMAT says 'manifest'
    with pytest.raises(BenchmarkError, match=rf"{path}: FORMAT.name is 'manifest'; it must be the module's name, 'broken'"):
        formats()


def test_an_override_of_no_format_is_named(drop):
    drop("manifest", manifest(overrides=("nifti",)))
    with pytest.raises(BenchmarkError, match="'manifest' overrides 'nifti', which is no format"):
        formats()


def test_the_built_in_formats_and_the_choices_of_format():
    assert set(formats()) == {"arcade", "folder", "nnunet"}
    assert formats()["arcade"].overrides == ("folder",)
    check_format("nnunet")
    with pytest.raises(BenchmarkError, match=r"unknown dataset format 'nifti' \(option --format\); "
                                             r"choose one of auto, arcade, folder, nnunet$"):
        check_format("nifti", "--format")


def test_listing_the_formats_imports_no_reader():
    """The command line's help lists the formats: importing it must not import numpy, PIL or pycocotools."""
    code = ("import json, sys, benchmark.cli\n"
            "from benchmark.data.readers.registry import format_names\n"
            "print(json.dumps([list(format_names()), sorted(m for m in sys.modules if m.split('.')[0] in "
            "('numpy', 'PIL', 'pycocotools') or m.startswith('benchmark.data.readers.'))]))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    names, loaded = json.loads(done.stdout)
    assert names == ["arcade", "folder", "nnunet"]
    assert loaded == ["benchmark.data.readers._files", "benchmark.data.readers.registry"]
