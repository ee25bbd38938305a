"""A command that fails on bad input creates and changes nothing, and its failure never poisons the
next command: every kind of bad data is refused before the run folder is touched."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from benchmark.cli import app
from benchmark.data.synthetic import write_synthetic
from benchmark.run.folder.store import RunStore
from conftest import write_tiny_config

runner = CliRunner()


def _snapshot(folder: Path) -> dict[str, str]:
    """Every file under `folder` with a hash of its contents (absent folder: empty)."""
    if not folder.exists():
        return {}
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _good(tmp_path: Path, n: int = 30) -> Path:
    return write_synthetic(tmp_path / "good", n=n, size=64, seed=1)


def _no_images(tmp_path: Path) -> Path:
    root = tmp_path / "empty"
    (root / "imgs").mkdir(parents=True)
    (root / "masks").mkdir()
    return root


def _image_without_mask(tmp_path: Path) -> Path:
    root = _good(tmp_path)
    next(iter(sorted((root / "masks").iterdir()))).unlink()
    return root


def _truncated_png(tmp_path: Path) -> Path:
    root = _good(tmp_path)
    image = sorted((root / "imgs").iterdir())[-1]
    image.write_bytes(image.read_bytes()[:60])
    return root


def _bad_coco(tmp_path: Path) -> Path:
    root = tmp_path / "arcade"
    split = root / "syntax" / "train"
    (split / "images").mkdir(parents=True)
    (split / "annotations").mkdir()
    (split / "images" / "1.png").write_bytes(b"")
    (split / "annotations" / "train.json").write_text('{"images": [')
    return root


def _too_small(tmp_path: Path) -> Path:
    return write_synthetic(tmp_path / "small", n=6, size=64, seed=1)


BAD = [_no_images, _image_without_mask, _truncated_png, _bad_coco, _too_small]


def _finetune(config: Path, data: Path, out: Path):
    return runner.invoke(app, ["finetune", "--config", str(config), "--profile", "tiny", "--data", str(data),
                               "--ft-ratio", "20", "--seed", "0", "--out", str(out)])


@pytest.mark.parametrize("make_bad", BAD, ids=[f.__name__.strip("_") for f in BAD])
@pytest.mark.parametrize("command", ["finetune", "run"])
def test_a_failing_start_leaves_its_folder_as_it_was(tmp_path, make_bad, command):
    config = write_tiny_config(tmp_path, methods=["supervised"], ratios=["70:10"])
    bad = make_bad(tmp_path)
    fresh, existing = tmp_path / "fresh", tmp_path / "existing"
    existing.mkdir()
    (existing / "notes.txt").write_text("the user's own file")
    for out in (fresh, existing):
        before = _snapshot(out)
        if command == "finetune":
            result = _finetune(config, bad, out)
        else:
            result = runner.invoke(app, ["run", "--config", str(config), "--data", str(bad), "--out", str(out)])
        assert result.exit_code != 0 and "error:" in result.output, result.output
        assert "Traceback" not in result.output
        assert _snapshot(out) == before, result.output
        assert out.exists() == (out == existing)


def test_a_good_finetune_after_a_failed_one_in_the_same_folder_succeeds(tmp_path):
    config = write_tiny_config(tmp_path, methods=["supervised"], ratios=["70:10"])
    out = tmp_path / "ft"
    assert _finetune(config, _truncated_png(tmp_path), out).exit_code != 0
    result = _finetune(config, _good(tmp_path / "second", n=50), out)
    assert result.exit_code == 0, result.output
    assert (out / "rows.parquet").is_file()


def test_debris_of_an_old_failed_start_is_not_a_run_of_another_config(tmp_path):
    out = tmp_path / "ft"
    out.mkdir()
    (out / "config.toml").write_text('profile = "tiny"\nseeds = [9]\n')  # a config and no job
    store = RunStore(out)
    assert store.is_debris() and not store.resumes("profile = 'other'", force=False)
    config = write_tiny_config(tmp_path, methods=["supervised"], ratios=["70:10"])
    result = _finetune(config, _good(tmp_path, n=50), out)
    assert result.exit_code == 0, result.output
    assert json.loads((store.job_dir(store.job_keys()[0]) / "status.json").read_text())["state"] == "done"
