"""A run's data: prepared once, the unlabelled pool joins pre-training only, splits from the source."""

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pytest

from benchmark.core.errors import BenchmarkError
from benchmark.run.folder import rundata
from benchmark.run.execute import runner
from benchmark.run.folder.store import RunStore
from benchmark.data.synthetic import write_synthetic
from benchmark.config.options import resolve_run_config
from conftest import write_tiny_config


def test_unlabelled_pool_is_preprocessed_and_changes_the_fingerprint(tmp_path):
    pool = write_synthetic(tmp_path / "pool", n=3, size=64, seed=11)
    shutil.rmtree(pool / "masks")
    plain, _ = resolve_run_config(write_tiny_config(tmp_path, methods=["supervised"]))
    with_pool, _ = resolve_run_config(write_tiny_config(tmp_path, methods=["supervised"],
                                                        data={"synthetic_count": 50, "synthetic_size": 64,
                                                              "unlabelled": str(pool)}))
    a, b = rundata.prepare(plain), rundata.prepare(with_pool)
    assert a.extra.shape == (0, 32, 32) and b.extra.shape == (3, 32, 32)
    assert np.array_equal(a.images, b.images) and a.ids == b.ids
    assert a.fingerprint != b.fingerprint
    assert rundata.index_source(with_pool).fingerprint == b.fingerprint
    assert rundata.index_source(with_pool).extra_count == 3


def test_a_source_with_its_own_test_split_keeps_it():
    index = rundata.SourceIndex(ids=[f"i{n}" for n in range(100)], groups=["train"] * 80 + ["test"] * 20,
                                fingerprint="fp", extra_count=0)
    config, _ = resolve_run_config(None, methods="supervised", ratios="60:20", profile="tiny")
    assert rundata.draw_splits(config, index).test == sorted(f"i{n}" for n in range(80, 100))


@pytest.mark.parametrize("groups", [["train"] * 100, ["train"] * 80 + ["test"] * 20])
def test_a_split_apart_never_touches_the_images_a_default_run_tests_on(groups):
    """Calibration's split: the answer's test images (random, or the source's own) are in none of its
    parts, and it tests on 20 % of the rest, with its own draw."""
    index = rundata.SourceIndex(ids=[f"i{n}" for n in range(100)], groups=groups, fingerprint="fp", extra_count=0)
    config, _ = resolve_run_config(None, methods="supervised", ratios="60:20,75:5", profile="tiny")
    answer = rundata.draw_splits(config, index)
    apart = rundata.draw_splits(dataclasses.replace(config, data=dataclasses.replace(config.data, test_split="apart")),
                                index)
    used = set(apart.test) | {i for _, part in apart.labelled_sets()
                              for i in (*part.pretrain, *part.finetune_train, *part.finetune_val)}
    assert len(answer.test) == 20 and not used & set(answer.test)
    assert len(apart.test) == 16  # 20 % of the 80 images left
    assert used <= set(index.ids) - set(answer.test)


def _pool_with(images: list[Path], folder: Path) -> Path:
    folder.mkdir(parents=True)
    for n, image in enumerate(images):
        shutil.copy(image, folder / f"pool{n}_{image.name}")
    return folder


def test_an_unlabelled_image_equal_to_a_test_image_is_refused_before_the_folder_is_made(tmp_path):
    source = write_synthetic(tmp_path / "source", n=30, size=64, seed=3)
    table = {"synthetic_count": 50, "synthetic_size": 64}
    plain, _ = resolve_run_config(write_tiny_config(tmp_path, methods=["supervised"], ratios=["70:10"], data=table),
                                  data=str(source))
    splits = rundata.draw_splits(plain, rundata.index_source(plain))
    trained = splits.ratio("70:10", 0).finetune_train[0]
    test = splits.test[1]
    pool = _pool_with([source / "imgs" / f"{trained}.png", source / "imgs" / f"{test}.png"], tmp_path / "pool")
    leaky, _ = resolve_run_config(write_tiny_config(tmp_path, methods=["supervised"], ratios=["70:10"],
                                                    data={**table, "unlabelled": str(pool)}), data=str(source))
    with pytest.raises(BenchmarkError, match=f"image pool1_{test} is identical, after pre-processing, to test image {test}"):
        runner.open_run(leaky, tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_an_unlabelled_image_equal_to_a_training_image_is_allowed(tmp_path):
    """Pre-training on images that are fine-tuned on later leaks nothing about the test set."""
    source = write_synthetic(tmp_path / "source", n=30, size=64, seed=3)
    table = {"synthetic_count": 50, "synthetic_size": 64}
    plain, _ = resolve_run_config(write_tiny_config(tmp_path, methods=["supervised"], ratios=["70:10"], data=table),
                                  data=str(source))
    splits = rundata.draw_splits(plain, rundata.index_source(plain))
    trained = splits.ratio("70:10", 0).finetune_train[:2]
    pool = _pool_with([source / "imgs" / f"{t}.png" for t in trained], tmp_path / "pool")
    config, _ = resolve_run_config(write_tiny_config(tmp_path, methods=["supervised"], ratios=["70:10"],
                                                     data={**table, "unlabelled": str(pool)}), data=str(source))
    _, jobs = runner.open_run(config, tmp_path / "run")
    assert jobs and rundata.load(RunStore(tmp_path / "run").prepared_path).extra.shape[0] == 2


def test_a_run_draws_splits_per_seed_unless_told_to_share_one():
    index = rundata.SourceIndex(ids=[f"i{n}" for n in range(100)], groups=["train"] * 100, fingerprint="fp",
                                extra_count=0)
    config, _ = resolve_run_config(None, methods="supervised", ratios="60:20", profile="tiny", seeds="0,1")
    per_seed = rundata.draw_splits(config, index)
    assert sorted(per_seed.by_seed) == ["0", "1"] and per_seed.ratio("60:20", 0) != per_seed.ratio("60:20", 1)
    shared = rundata.draw_splits(dataclasses.replace(config, data=dataclasses.replace(
        config.data, labelled_splits="shared")), index)
    assert not shared.per_seed and shared.ratio("60:20", 0) == shared.ratio("60:20", 1)
    assert shared.test == per_seed.test


def test_an_unlabelled_image_nearly_equal_to_a_test_image_is_refused_naming_both(tmp_path):
    """A test image re-saved a little brighter with mild noise is a near duplicate: refused like a copy."""
    import numpy as np
    from PIL import Image
    source = write_synthetic(tmp_path / "source", n=30, size=64, seed=3)
    table = {"synthetic_count": 50, "synthetic_size": 64}
    plain, _ = resolve_run_config(write_tiny_config(tmp_path, methods=["supervised"], ratios=["70:10"], data=table),
                                  data=str(source))
    test = rundata.draw_splits(plain, rundata.index_source(plain)).test[0]
    pixels = np.asarray(Image.open(source / "imgs" / f"{test}.png"), dtype=int)
    noise = np.random.default_rng(0).integers(-2, 3, pixels.shape)
    (tmp_path / "pool").mkdir()
    Image.fromarray(np.clip(pixels + 6 + noise, 0, 255).astype(np.uint8)).save(tmp_path / "pool" / "resaved.png")
    leaky, _ = resolve_run_config(write_tiny_config(tmp_path, methods=["supervised"], ratios=["70:10"],
                                                    data={**table, "unlabelled": str(tmp_path / "pool")}),
                                  data=str(source))
    with pytest.raises(BenchmarkError, match=f"image resaved is nearly identical .* to test image {test}"):
        runner.open_run(leaky, tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_the_source_index_finds_duplicate_images_and_the_run_keeps_them_together(tmp_path):
    source = write_synthetic(tmp_path / "source", n=30, size=64, seed=3)
    for folder in ("imgs", "masks"):
        shutil.copy(source / folder / "synth_0004.png", source / folder / "copy_of_4.png")
    config, _ = resolve_run_config(write_tiny_config(tmp_path, methods=["supervised"], ratios=["70:10"],
                                                     seeds=[0, 1, 2]), data=str(source))
    index = rundata.index_source(config)
    assert index.twins == (("copy_of_4", "synth_0004"),)
    splits = rundata.draw_splits(config, index)
    for seed in (0, 1, 2):
        part = splits.ratio("70:10", seed)
        for members in (splits.test, part.finetune_train, part.finetune_val, part.pretrain):
            assert ("copy_of_4" in members) == ("synth_0004" in members)


def test_prepared_data_of_an_earlier_version_is_refused_naming_what_it_lacks(tmp_path):
    import numpy as np
    path = tmp_path / "prepared.npz"
    np.savez(path, ids=np.array(["a"]), groups=np.array([""]), images=np.zeros((1, 4, 4), np.float32),
             masks=np.zeros((1, 4, 4), bool), extra=np.zeros((0, 4, 4), np.float32), fingerprint=np.array("f"),
             external_names=np.array([], dtype=str))
    with pytest.raises(BenchmarkError, match="prepared by an earlier version \\(no 'extra_ids'\\); pass --force"):
        rundata.load(path)
