"""A method's display name, colour and role come from its own file, through the run folder: the
report reads RUN_DIR/methods.json and never imports the methods to draw them or to know which is
the baseline and which are the controls."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_hex

from benchmark.core.errors import BenchmarkError
from benchmark.run.folder.looks import LOOKS, MethodLook, looks_of, read_looks, write_looks
from methods import registry
from reports import build_report
from reports.render.figures import curves_figure
from reports.labels import drawn_with
from tests.test_reports import add_finetune, image_metrics, write_config


def test_every_registered_method_declares_a_label_and_a_colour_of_its_own():
    looks = looks_of(registry())
    assert looks["supervised"] == MethodLook("UNet (no PT)", "#3b3b3b", "baseline", 0)
    assert looks["cmunet"].label == "CM-UNet"
    colours = [look.colour for look in looks.values()]
    assert all(colours) and len(set(colours)) == len(colours)


def test_the_methods_declare_one_baseline_two_controls_and_the_study_order():
    looks = looks_of(registry())
    roles = {name: look.role for name, look in looks.items() if look.role != "contender"}
    assert roles == {"supervised": "baseline", "control-oracle": "positive-control",
                     "control-null": "negative-control"}
    order = sorted((look.study_order, name) for name, look in looks.items() if look.study_order is not None)
    assert [name for _, name in order] == ["supervised", "genesis", "mae", "spark", "moco", "cmunet", "vasomim"]
    assert [name for name, look in looks.items() if look.featured] == ["cmunet"]


def test_looks_round_trip_and_a_missing_or_wrong_file_is_an_error_naming_it(tmp_path):
    write_looks(tmp_path, {"mae": MethodLook("My MAE", "#123456", study_order=2)})
    assert read_looks(tmp_path) == {"mae": MethodLook("My MAE", "#123456", "contender", 2, False)}
    (tmp_path / LOOKS).write_text('{"mae": {"label": "x", "colour": "", "role": "referee"}}')
    with pytest.raises(BenchmarkError, match=r"methods.json: mae.role: 'referee' is not one of 'baseline'"):
        read_looks(tmp_path)
    (tmp_path / LOOKS).write_text("not json")
    with pytest.raises(BenchmarkError, match="methods.json: no readable method looks"):
        read_looks(tmp_path)
    with pytest.raises(BenchmarkError, match="absent/methods.json"):
        read_looks(tmp_path / "absent")


def _run(root, looks):
    write_config(root, ["supervised", "newmethod"], ["50:30", "79:1"], [0])
    write_looks(root, looks)
    base = np.linspace(0.5, 0.64, 8)
    for method in ("supervised", "newmethod"):
        for ratio in ("50:30", "79:1"):
            add_finetune(root, method, ratio, 0, image_metrics(base.tolist()))
    return root


def test_report_names_and_colours_a_new_method_as_its_run_folder_says(tmp_path):
    looks = {"supervised": MethodLook("UNet (no PT)", "#3b3b3b", "baseline"), "newmethod": MethodLook("Brand New", "#123456")}
    root = _run(tmp_path / "run", looks)
    page = build_report(root, formats=("png",)).index_html.read_text()
    assert "Brand New" in page and not re.search(r">newmethod<", page)
    with drawn_with(read_looks(root)):
        from benchmark.run.folder.store import load_results

        figure = curves_figure(load_results(root))
    colours = {c.get_label(): to_hex(c.lines[0].get_color()) for c in figure.axes[0].containers}
    assert colours["Brand New"] == "#123456" and colours["UNet (no PT)"] == "#3b3b3b"


def test_the_baseline_is_the_method_whose_file_says_so_not_a_name(tmp_path):
    """A run whose baseline is another method (its look says role "baseline") is tested against it."""
    looks = {"supervised": MethodLook("UNet (no PT)", "#3b3b3b"), "newmethod": MethodLook("Brand New", "#123456", "baseline")}
    root = _run(tmp_path / "run", looks)
    significance = (build_report(root, formats=("png",)).out_dir / "tables" / "significance.csv")
    roles = pd.read_csv(significance).drop_duplicates("method").set_index("method")["role"]
    assert roles.to_dict() == {"newmethod": "baseline", "supervised": "contender"}


def test_report_of_a_run_without_looks_is_an_error_naming_the_file(tmp_path):
    root = _run(tmp_path / "run", {})
    (root / LOOKS).unlink()
    with pytest.raises(BenchmarkError, match="methods.json: no readable method looks"):
        build_report(root, formats=("png",))
