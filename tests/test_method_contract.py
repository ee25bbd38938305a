"""The contract, run over every registered method: a new file in methods/ is tested with no new test."""

import pytest

from benchmark.train.contract import run_contract
from methods import registry


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny tensors: threads only add overhead


@pytest.mark.parametrize("name", sorted(registry()))
def test_method_meets_contract(name):
    failures = [f"{r.name}: {r.detail}" for r in run_contract(registry()[name]) if not r.passed]
    assert not failures, "\n".join(failures)


def test_registry_discovers_the_supervised_baseline():
    methods = registry()
    assert methods["supervised"].pretrains is False
    assert methods["supervised"].transfers == "none"


BROKEN_METHOD_CHECK = """
import torch
import methods
from methods._template import DenoisingTemplate

class Broken(DenoisingTemplate):
    name = "broken"

    def training_step(self, images, step, total_steps, aux):
        loss = super().training_step(images, step, total_steps, aux)["loss"]
        return {"loss": loss * float("nan")}

methods.registry = lambda: {"broken": Broken}
from benchmark.cli import app
app(["methods", "check", "broken"])
"""


def test_methods_check_fails_a_broken_method_under_python_O():
    """Under -O `assert` is gone; the contract's checks still fail a method whose loss is NaN."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-O", "-c", BROKEN_METHOD_CHECK], capture_output=True, text=True,
                          cwd=root, env={**os.environ, "PYTHONPATH": str(root)})
    assert done.returncode == 1, done.stdout + done.stderr
    assert "FAIL finite scalar loss: loss is nan" in done.stdout
