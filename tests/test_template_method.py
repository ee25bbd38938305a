"""methods/_template.py stays a runnable skeleton: it meets the contract, and discovery skips it."""

import pytest

from benchmark.train.contract import run_contract
from methods import registry
from methods._template import DenoisingTemplate

pytestmark = pytest.mark.usefixtures("one_thread")


def test_the_template_method_meets_the_contract():
    failures = [f"{r.name}: {r.detail}" for r in run_contract(DenoisingTemplate) if not r.passed]
    assert not failures, "\n".join(failures)


def test_discovery_skips_the_template():
    assert DenoisingTemplate.name not in registry()
