"""Folders whose parts are symbolic links (a dataset's splits on another disk) are read wherever a
folder is accepted: --data, --external-test, data.unlabelled, and the inspect command."""

import os
from pathlib import Path

import pytest

from benchmark.data.readers import load_dataset, load_unlabelled
from benchmark.data.synthetic import write_synthetic
from benchmark.core.errors import BenchmarkError
from benchmark.core.files import holds_a_file
from benchmark.config.options import resolve_run_config


def linked_copy(real: Path, where: Path) -> Path:
    """A folder whose every entry is a symbolic link to `real`'s."""
    where.mkdir()
    for entry in real.iterdir():
        os.symlink(entry, where / entry.name)
    return where


def test_arcade_with_its_split_folders_linked_is_read_like_the_original(tmp_path):
    arcade = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "arcade"
    if not arcade.is_dir():
        pytest.skip("ARCADE is not beside the repository")
    syntax = tmp_path / "arcade" / "syntax"
    syntax.parent.mkdir()
    linked_copy(arcade / "syntax", syntax)
    config, _ = resolve_run_config(None, data=str(tmp_path / "arcade"), methods="supervised", profile="tiny")
    assert config.data.source == str((tmp_path / "arcade").resolve())
    assert load_dataset(tmp_path / "arcade").ids == load_dataset(arcade).ids


def test_linked_data_external_test_and_unlabelled_folders_are_accepted(tmp_path):
    real = write_synthetic(tmp_path / "real", n=6, size=32, seed=1)
    data = linked_copy(real, tmp_path / "data")
    external = linked_copy(write_synthetic(tmp_path / "real-ext", n=4, size=32, seed=2), tmp_path / "ext")
    pool = tmp_path / "pool"
    pool.mkdir()
    os.symlink(real / "imgs", pool / "imgs")  # a pool whose only content is a linked folder
    config, _ = resolve_run_config(None, data=str(data), methods="supervised", profile="tiny",
                                   external_tests=[f"ext={external}"])
    assert load_dataset(config.data.source).ids == load_dataset(real).ids
    assert holds_a_file(pool) and len(load_unlabelled(pool / "imgs")) == 6


def test_a_folder_of_links_to_empty_folders_is_still_empty_and_a_link_loop_ends(tmp_path):
    (tmp_path / "empty").mkdir()
    data = tmp_path / "data"
    data.mkdir()
    os.symlink(tmp_path / "empty", data / "split")
    os.symlink(data, data / "loop")
    assert not holds_a_file(data)
    with pytest.raises(BenchmarkError, match="the folder is empty"):
        resolve_run_config(None, data=str(data), methods="supervised", profile="tiny")


def test_predict_finds_images_in_a_linked_folder_and_linked_image_files(tmp_path):
    from benchmark.export.predict import expand_inputs
    real = write_synthetic(tmp_path / "real", n=3, size=32, seed=1)
    os.symlink(real / "imgs", tmp_path / "linked-imgs")
    files = linked_copy(real / "imgs", tmp_path / "linked-files")
    assert [p.name for p in expand_inputs([tmp_path / "linked-imgs"])] == sorted(p.name for p in (real / "imgs").iterdir())
    assert len(expand_inputs([files])) == 3
