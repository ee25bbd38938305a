"""A method's display name and colour come from its own file, through the run folder: the report
reads RUN_DIR/methods.json and never imports the methods to draw them."""

from __future__ import annotations

import re

import numpy as np
from matplotlib.colors import to_hex

from benchmark.run.folder.looks import LOOKS, MethodLook, looks_of, read_looks, write_looks
from methods import registry
from reports import build_report
from reports.render.figures import curves_figure
from reports.labels import drawn_with
from tests.test_reports import add_finetune, image_metrics, write_config


def test_every_registered_method_declares_a_label_and_a_colour_of_its_own():
    looks = looks_of(registry())
    assert looks["supervised"] == MethodLook("UNet (no PT)", "#3b3b3b")
    assert looks["cmunet"].label == "CM-UNet"
    colours = [look.colour for look in looks.values()]
    assert all(colours) and len(set(colours)) == len(colours)


def test_looks_round_trip_and_a_run_without_them_reads_as_none(tmp_path):
    write_looks(tmp_path, {"mae": MethodLook("My MAE", "#123456")})
    assert read_looks(tmp_path) == {"mae": MethodLook("My MAE", "#123456")}
    (tmp_path / LOOKS).write_text("not json")
    assert read_looks(tmp_path) == {}
    assert read_looks(tmp_path / "absent") == {}


def _run(root, looks):
    write_config(root, ["supervised", "newmethod"], ["50:30", "79:1"], [0])
    write_looks(root, looks)
    base = np.linspace(0.5, 0.64, 8)
    for method in ("supervised", "newmethod"):
        for ratio in ("50:30", "79:1"):
            add_finetune(root, method, ratio, 0, image_metrics(base.tolist()))
    return root


def test_report_names_and_colours_a_new_method_as_its_run_folder_says(tmp_path):
    looks = {"supervised": MethodLook("UNet (no PT)", "#3b3b3b"), "newmethod": MethodLook("Brand New", "#123456")}
    root = _run(tmp_path / "run", looks)
    page = build_report(root, formats=("png",)).index_html.read_text()
    assert "Brand New" in page and not re.search(r">newmethod<", page)
    with drawn_with(read_looks(root)):
        from benchmark.run.folder.store import load_results

        figure = curves_figure(load_results(root))
    colours = {c.get_label(): to_hex(c.lines[0].get_color()) for c in figure.axes[0].containers}
    assert colours["Brand New"] == "#123456" and colours["UNet (no PT)"] == "#3b3b3b"


def test_report_of_a_run_without_looks_uses_the_method_names(tmp_path):
    root = _run(tmp_path / "run", {})
    (root / LOOKS).unlink()
    table = (build_report(root, formats=("png",)).out_dir / "tables" / "table1.md").read_text()
    assert "| newmethod |" in table and "| supervised |" in table
