"""A run's data: prepared once, the unlabelled pool joins pre-training only, splits from the source."""

import shutil

import numpy as np

from benchmark.run import rundata
from benchmark.data.synthetic import write_synthetic
from benchmark.settings import resolve_run_config
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
