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
