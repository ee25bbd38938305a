"""Shared fixtures: a tiny run configuration that trains in seconds on a CPU."""

from __future__ import annotations

from pathlib import Path

import pytest
import tomli_w
import torch

TINY_TABLE = {
    "profile": "tiny",
    "data": {"synthetic_count": 50, "synthetic_size": 64},
    "preprocess": {"size": 32},
    "unet": {"base": 4},
    "ratios": ["60:20", "70:10"],
    "seeds": [0],
    # epochs for the study protocol, steps (and a two-lr grid) for the fair one: seconds either way
    "finetune": {"epochs": 2, "steps": 4, "eval_every": 2, "lr_grid": [0.01, 0.003], "batch_size": 4,
                 "min_samples_per_epoch": 8},
}


def write_tiny_config(folder: Path, **changes) -> Path:
    table = {**TINY_TABLE, **changes}
    path = folder / "tiny.toml"
    path.write_text(tomli_w.dumps(table))
    return path


@pytest.fixture
def tiny_config(tmp_path) -> Path:
    return write_tiny_config(tmp_path, methods=["supervised", "mae"], pretrain={"mae": {"epochs": 1, "steps": 4, "batch_size": 8}})


@pytest.fixture
def one_thread():
    """Method tests on tiny tensors run on one thread (faster, and steadier beside other work)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def compiled(monkeypatch) -> list:
    """torch.compile with Dynamo's eager backend: the harness's compile wiring without minutes of
    code generation; the list collects what was compiled."""
    calls = []

    def eager_compile(fn, **kwargs):
        calls.append(fn)
        return torch._dynamo.optimize("eager")(fn)

    monkeypatch.setattr(torch, "compile", eager_compile)
    return calls


@pytest.fixture
def study_looks():
    """Tables and figures drawn outside a report build name methods as their files declare (a build
    reads them from its run folder instead)."""
    from benchmark.run.folder.looks import looks_of
    from methods import registry
    from reports.labels import drawn_with

    with drawn_with(looks_of(registry())):
        yield
