"""`angiobench methods list` without torch: the UNet's parameters worked out from its sizes (checked
against torch's count), the methods' cards read from their source (checked against the imported
classes), the profile's UNet chosen as a run chooses it; and a subprocess showing the command imports
neither torch nor a method module."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import tomli_w

from benchmark.core.errors import BenchmarkError
from benchmark.model.unet import UNet, UNetConfig, count_parameters
from benchmark.config.profiles import choose_profile, gpu_visible, profile_image_size, profile_unet
from benchmark.train.method_info import describe_methods, mask_geometry
from benchmark.model.unet_config import unet_parameters
from methods import _catalogue, catalogue, registry
from methods._catalogue import MethodCard, NotStatic, static_catalogue

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("config", [UNetConfig(), UNetConfig(base=8), UNetConfig(base=4, depth=1),
                                    UNetConfig(base=5, in_channels=3, classes=4, depth=3),
                                    UNetConfig(base=16, depth=2, classes=1)])
def test_the_unet_parameter_count_worked_out_from_its_sizes_is_torchs(config):
    assert unet_parameters(config) == count_parameters(UNet(config))


def test_the_studys_unet_has_31_036_546_parameters():
    assert unet_parameters(UNetConfig(base=64)) == 31_036_546


def test_the_cards_read_from_source_are_those_of_the_imported_classes():
    imported = {name: MethodCard.of(cls) for name, cls in registry().items()}
    assert static_catalogue() == imported and list(catalogue()) == sorted(imported)
    assert imported["moco"].transfers == "encoder" and imported["supervised"].pretrains is False


def _package(folder: Path, source: str) -> Path:
    """A methods folder: the real base, and one method file of `source`."""
    folder.mkdir()
    (folder / "base.py").write_text((ROOT / "methods" / "base.py").read_text())
    (folder / "mine.py").write_text(source)
    return folder


def test_attributes_resolve_along_inheritance_with_the_bases_defaults(tmp_path, monkeypatch):
    monkeypatch.setattr(_catalogue, "PACKAGE", _package(tmp_path / "methods", (
        "from methods.base import Method, SSLMethod\n"
        "class A(SSLMethod):\n    name = 'a'\n    description = 'A.'\n    transfers = 'encoder'\n"
        "class B(A):\n    name: str = 'b'\n    label = 'Bee'\n"
        "class Plain(Method):\n    name = 'plain'\n    description = 'P.'\n    transfers = 'none'\n"
        "    pretrains = False\n"
        "class Helper:\n    name = 'not a method'\n")))
    assert static_catalogue() == {"a": MethodCard("a", "", "A.", "encoder", True),
                                  "b": MethodCard("b", "Bee", "A.", "encoder", True),
                                  "plain": MethodCard("plain", "", "P.", "none", False)}


@pytest.mark.parametrize("source", [
    "from methods.base import SSLMethod\nclass A(SSLMethod):\n    name = 'a' + 'b'\n",  # an expression
    "from elsewhere import Mixin\nclass A(Mixin):\n    name = 'a'\n",  # a base from outside the package
    "from methods.base import SSLMethod\nif True:\n    class A(SSLMethod):\n        name = 'a'\n",
    "from methods.base import SSLMethod\nclass A(SSLMethod):\n    name = 'a'\nA.label = 'x'\n",
    "from methods.base import SSLMethod\nclass A(SSLMethod):\n    name = 'a'\n    transfers = 'none'\n",
])
def test_a_file_the_source_cannot_tell_is_not_guessed_at(tmp_path, monkeypatch, source):
    monkeypatch.setattr(_catalogue, "PACKAGE", _package(tmp_path / "methods", source))
    with pytest.raises(NotStatic):
        static_catalogue()


def test_the_catalogue_asks_the_registry_when_the_source_cannot_tell(monkeypatch):
    def unreadable(module: str):
        raise NotStatic(module)

    monkeypatch.setattr(_catalogue, "_read_module", unreadable)
    assert catalogue() == {name: MethodCard.of(cls) for name, cls in sorted(registry().items())}


def test_the_list_counts_the_unet_and_on_request_what_each_method_pretrains():
    rows = {row["method"]: row for row in describe_methods(UNetConfig(base=64), "paper", pretrain_params=True)}
    assert set(rows) == set(registry()) and all(row["finetune_M"] == 31.04 for row in rows.values())
    assert rows["supervised"]["pretrain_M"] == 0.0 and rows["spark"]["pretrain_M"] == 31.04
    assert rows["moco"]["pretrain_M"] == 54.61 and rows["cmunet"]["label"] == "CM-UNet"
    plain = describe_methods(UNetConfig(base=8), "tiny")
    assert "pretrain_M" not in plain[0] and plain[0]["finetune_M"] == 0.49


def test_the_list_shows_each_masked_methods_patch_and_grid_at_the_profiles_image_size():
    small = {row["method"]: row["mask"] for row in describe_methods(UNetConfig(base=8), "small", size=64)}
    for name in ("mae", "cmunet", "vasomim"):
        assert small[name] == "patch 4 px, grid 16×16"  # the study's grid of 16-px patches at 256 px
    assert small["spark"] == "patch 16 px, grid 4×4 (one per bottleneck pixel)"  # stride 2⁴
    assert small["moco"] == small["supervised"] == "—"
    paper = {row["method"]: row["mask"] for row in describe_methods(UNetConfig(), "paper", size=256)}
    assert paper["mae"] == "patch 16 px, grid 16×16"
    assert paper["spark"] == "patch 16 px, grid 16×16 (one per bottleneck pixel)"
    assert mask_geometry(16, 72, UNetConfig()) == "grid does not divide 72 px"


def test_the_image_size_is_the_profiles_unless_the_config_sets_one(tmp_path):
    assert profile_image_size(None, "small") == 64 and profile_image_size(None, "paper") == 256
    path = tmp_path / "run.toml"
    path.write_text(tomli_w.dumps({"profile": "small", "preprocess": {"size": 128}}))
    assert profile_image_size(path, "auto") == 128


def test_the_profile_and_unet_are_chosen_as_a_run_chooses_them(tmp_path, monkeypatch):
    path = tmp_path / "run.toml"
    path.write_text(tomli_w.dumps({"profile": "small", "unet": {"base": 16}}))
    assert profile_unet(path, "auto") == ("small", UNetConfig(base=16))
    assert profile_unet(path, "paper") == ("paper", UNetConfig(base=16))
    assert profile_unet(None, "paper") == ("paper", UNetConfig(base=64))
    assert choose_profile("auto", {}, lambda: True) == ("paper", "--profile auto: CUDA found, using the paper profile")
    assert choose_profile("tiny", {}, lambda: pytest.fail("only auto asks")) == ("tiny", "")
    path.write_text(tomli_w.dumps({"unet": {"width": 16}}))
    with pytest.raises(BenchmarkError, match="width"):
        profile_unet(path, "tiny")
    with pytest.raises(BenchmarkError, match="profile 'huge' is not one of tiny, small, paper"):
        choose_profile("auto", {"profile": "huge"}, lambda: False, "run.toml")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert gpu_visible() is False


LIST = """
import json, sys
from benchmark.cli import app
app(["methods", "list", "--profile", "tiny"], standalone_mode=False)
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "numpy", "pandas")
                        or (m.startswith("methods.") and m != "methods._catalogue"))))
"""


def test_methods_list_imports_neither_torch_nor_a_method_module():
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "250"}  # wide enough for no cell to wrap
    done = subprocess.run([sys.executable, "-c", LIST], capture_output=True, text=True, env=env, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert "0.490" in done.stdout  # the tiny UNet's 0.49 M parameters
    assert "patch 4 px, grid 16×16" in done.stdout
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
