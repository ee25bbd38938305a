"""Weights pre-trained elsewhere (`run --pretrained NAME=PATH`): an exported MAE UNet brought back as
a contender fine-tunes to exactly the run's own MAE rows; files that do not fit are refused before a
run folder exists; the file's sha256 keys its jobs, reaches the rows, the report and the model card."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pandas as pd
import pytest
import torch
from safetensors.torch import save_file
from typer.testing import CliRunner

from benchmark.cli import app
from benchmark.config.run_config import load_config
from benchmark.core.errors import BenchmarkError
from benchmark.export import load_unet
from benchmark.model.unet import UNet, UNetConfig
from benchmark.run.folder import rundata
from benchmark.run.execute import runner
from benchmark.run.plan.imported_weights import load_imported, read_imported, resolve_imported_weights
from benchmark.run.plan.jobs import build_jobs
from benchmark.run.folder.looks import read_looks
from benchmark.run.folder.row_schema import METRIC_COLUMNS
from benchmark.run.folder.store import RunStore, load_results
from benchmark.config.options import ExecutorConfig, resolve_run_config
from benchmark.model.unet_file import PRETRAINED_FILE, save_unet_weights
from conftest import write_tiny_config

cli = CliRunner()
INLINE = ExecutorConfig(kind="inline", precision="fp32")
#: One ratio, one seed: the grid of the known-answer test.
GRID = {"ratios": ["60:20"], "seeds": [0], "pretrain": {"mae": {"epochs": 1, "steps": 4, "batch_size": 8}}}


def _run(*args):
    return cli.invoke(app, [str(a) for a in args])


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _metric_rows(run_dir: Path, method: str) -> pd.DataFrame:
    rows = load_results(run_dir)
    return rows[rows["method"] == method].set_index("image_id").sort_index()


@pytest.fixture(scope="module")
def mae_run(tmp_path_factory) -> Path:
    """The tiny grid with MAE alone: one pre-training job, one fine-tune job."""
    folder = tmp_path_factory.mktemp("mae-run")
    config = resolve_run_config(write_tiny_config(folder, methods=["mae"], **GRID))[0]
    assert not runner.run_benchmark(config, folder / "run", INLINE).summary.failed
    return folder / "run"


@pytest.fixture(scope="module")
def export(mae_run, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("exports") / "mae"
    result = _run("export", mae_run, out, "--method", "mae")
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def brought_back(export, tmp_path_factory) -> Path:
    """A new run of the same data, splits and seeds: the baseline, and the export as contender `mine`."""
    folder = tmp_path_factory.mktemp("brought-back")
    path = write_tiny_config(folder, methods=["supervised"], **GRID)
    config = resolve_run_config(path, pretrained=[f"mine={export}"])[0]
    assert not runner.run_benchmark(config, folder / "run", INLINE).summary.failed
    return folder / "run"


def test_exported_mae_weights_fine_tune_to_exactly_the_runs_own_mae_rows(mae_run, export, brought_back):
    assert (mae_run / "splits.json").read_bytes() == (brought_back / "splits.json").read_bytes()
    mae, mine = _metric_rows(mae_run, "mae"), _metric_rows(brought_back, "mine")
    assert list(mine.index) == list(mae.index) and len(mine) > 0
    assert mine[METRIC_COLUMNS].equals(mae[METRIC_COLUMNS])
    # The answer is not the baseline's: the cell's common seed starts both, so only the weights differ.
    scratch = _metric_rows(brought_back, "supervised")
    assert not mine[METRIC_COLUMNS].equals(scratch[METRIC_COLUMNS])
    sha = _sha256(export / PRETRAINED_FILE)
    assert set(mine["pretrained_sha256"]) == {sha} and set(mine["pretrained_from"]) == {""}
    assert set(mae["pretrained_sha256"]) == {""} and set(mine["n_pretrain"]) == {0}
    store = RunStore(brought_back)
    jobs = [store.read_job(k) for k in store.job_keys()]
    assert sorted((j.method, j.kind) for j in jobs) == [("mine", "finetune"), ("supervised", "finetune")]
    imported = next(j for j in jobs if j.method == "mine").finetune.imported
    assert (imported.sha256, imported.transfers, imported.file) == (sha, "encoder+decoder", str(export / PRETRAINED_FILE))


def test_the_report_names_external_weights_and_says_their_pre_training_set_is_unknown(export, brought_back, tmp_path):
    from reports import build_report

    assert read_looks(brought_back)["mine"].label == "mine (imported)"
    result = build_report(brought_back, tmp_path / "report", formats=("png",))
    sha = _sha256(export / PRETRAINED_FILE)
    sentence = (f"mine: imported weights (sha256 {sha[:12]}…); the images they were pre-trained on are unknown to "
                "this run — a leak of test images into them cannot be ruled out.")
    assert sentence in result.summary
    page = result.index_html.read_text()
    answer = page[page.index('id="answer"'):page.index('id="summary"')]
    assert sentence in answer and "mine (imported)" in answer
    significance = pd.read_csv(tmp_path / "report" / "tables" / "significance.csv")
    assert "mine" in set(significance["method"])


def test_exporting_a_fine_tune_of_external_weights_puts_their_sha256_on_the_card(export, brought_back, tmp_path):
    sha = _sha256(export / PRETRAINED_FILE)
    result = _run("export", brought_back, tmp_path / "mine", "--method", "mine", "--ratio", "60:20")
    assert result.exit_code == 0, result.output
    _, card = load_unet(tmp_path / "mine")
    assert (card.pretrained_sha256, card.transfers, card.pretrained_file) == (sha, "encoder+decoder", None)
    assert sha in (tmp_path / "mine" / "MODEL_CARD.md").read_text()
    refused = _run("export", brought_back, tmp_path / "none", "--method", "mine")
    assert refused.exit_code == 2 and "pre-trained outside the run" in refused.output
    assert not (tmp_path / "none").exists()


def test_changed_weights_re_run_exactly_their_jobs_and_changed_back_none(export, tmp_path):
    weights = tmp_path / "mine.safetensors"
    shutil.copy(export / PRETRAINED_FILE, weights)
    config = resolve_run_config(write_tiny_config(tmp_path, methods=["supervised"], **GRID),
                                pretrained=[f"mine={weights}"])[0]
    run_dir = tmp_path / "run"
    first = runner.run_benchmark(config, run_dir, INLINE).summary
    assert (len(first.done), len(first.already_done)) == (2, 0)
    old = _metric_rows(run_dir, "mine")
    state = load_unet(export, "pretrained")[0].state_dict()
    state["encoder.stem.0.weight"] = state["encoder.stem.0.weight"] * 0.5
    save_unet_weights(weights, state, UNetConfig(base=4), "encoder+decoder")
    second = runner.run_benchmark(config, run_dir, INLINE)
    assert [j.method for j in second.jobs if j.key in second.summary.done] == ["mine"]
    assert [j.method for j in second.jobs if j.key in second.summary.already_done] == ["supervised"]
    new = _metric_rows(run_dir, "mine")
    assert set(new["pretrained_sha256"]) == {_sha256(weights)} and len(new) == len(old)  # no old row mixed in
    assert [p.name for p in (run_dir / "superseded").iterdir()] == [old["job_key"].iloc[0]]
    shutil.copy(export / PRETRAINED_FILE, weights)  # the first weights again: their job is back, nothing runs
    third = runner.run_benchmark(config, run_dir, INLINE).summary
    assert (len(third.done), len(third.already_done)) == (0, 2)
    assert _metric_rows(run_dir, "mine")[METRIC_COLUMNS].equals(old[METRIC_COLUMNS])


def _state(base: int = 4) -> dict[str, torch.Tensor]:
    torch.manual_seed(3)
    return UNet(UNetConfig(base=base)).state_dict()


@pytest.mark.parametrize("command", ["run", "plan"])
def test_weights_of_another_shape_are_refused_naming_the_key_and_both_shapes_before_a_folder_exists(tmp_path, command):
    wide = tmp_path / "wide.safetensors"
    save_file(_state(base=8), str(wide))
    out = tmp_path / "run"
    result = _run(command, "--config", write_tiny_config(tmp_path, methods=["supervised"]), "--out", out,
                  "--pretrained", f"mine={wide}")
    assert result.exit_code == 2 and "Traceback" not in result.output
    text = " ".join(result.output.split())
    assert "'encoder.stem.0.weight' has shape (8, 1, 3, 3) in the file but (4, 1, 3, 3)" in text, text
    assert str(wide) in text
    assert not out.exists()


@pytest.mark.parametrize("keys, fragment", [
    (lambda s: {k: v for k, v in s.items() if k != "decoder.ups.3.conv.4.running_var"},
     "key 'decoder.ups.3.conv.4.running_var' is missing; the run's UNet (unet: base 4"),
    (lambda s: {**s, "encoder.extra": torch.zeros(2)}, "unexpected key 'encoder.extra'"),
    (lambda s: {f"unet.{k}": v for k, v in s.items()}, "under the prefix 'unet.'"),
])
def test_missing_or_unexpected_keys_are_named(tmp_path, keys, fragment):
    path = tmp_path / "w.safetensors"
    save_file(keys(_state()), str(path))
    with pytest.raises(BenchmarkError, match="--pretrained mine=") as error:
        resolve_imported_weights("mine", str(path), UNetConfig(base=4))
    assert fragment in str(error.value)


def test_a_missing_file_is_one_line_naming_it_and_writes_nothing(tmp_path):
    out, missing = tmp_path / "run", tmp_path / "nowhere.safetensors"
    result = _run("run", "--config", write_tiny_config(tmp_path), "--out", out, "--pretrained", f"mine={missing}")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert f"--pretrained mine={missing}: no such file or folder" in " ".join(result.output.split())
    assert not out.exists()


@pytest.mark.parametrize("entry, fragment", [
    ("mae={file}", "'mae' is the name of a registered method"),
    ("control-null={file}", "'control-null' is the name of a registered method"),
    ("{file}", "write NAME=PATH"),
    ("bad name={file}", "'bad name' is not a usable name"),
])
def test_a_name_that_clashes_or_cannot_name_a_contender_is_refused(tmp_path, entry, fragment):
    file = tmp_path / "w.safetensors"
    save_file(_state(), str(file))
    out = tmp_path / "run"
    result = _run("run", "--config", write_tiny_config(tmp_path), "--out", out,
                  "--pretrained", entry.format(file=file))
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert fragment in " ".join(result.output.split())
    assert not out.exists()


def test_a_name_given_twice_is_refused(tmp_path):
    with pytest.raises(BenchmarkError, match="the name 'mine' is given twice"):
        resolve_run_config(write_tiny_config(tmp_path), pretrained=["mine=a.safetensors", "mine=b.safetensors"])


def _plan_keys(tmp_path: Path, file: Path) -> dict[str, str]:
    config = resolve_run_config(write_tiny_config(tmp_path, methods=["supervised", "mae"], **GRID),
                                pretrained=[f"mine={file}"])[0]
    index = rundata.index_source(config)
    weights = (resolve_imported_weights("mine", str(file), config.unet),)
    jobs = build_jobs(config, rundata.draw_splits(config, index), index.fingerprint, imported_weights=weights)
    return {f"{j.method} {j.kind}": j.key for j in jobs}


def test_the_files_sha256_keys_its_jobs_and_nothing_else(tmp_path):
    first, moved, changed = tmp_path / "a.safetensors", tmp_path / "moved.safetensors", tmp_path / "c.safetensors"
    state = _state()
    save_file(state, str(first))
    shutil.copy(first, moved)
    save_file({**state, "encoder.stem.0.weight": state["encoder.stem.0.weight"] + 1}, str(changed))
    keys = _plan_keys(tmp_path, first)
    assert set(keys) == {"mae pretrain", "mae finetune", "supervised finetune", "mine finetune"}
    assert _plan_keys(tmp_path, moved) == keys  # the path is not hashed: a moved file is not re-run
    other = _plan_keys(tmp_path, changed)
    assert other["mine finetune"] != keys["mine finetune"]
    assert {k: v for k, v in other.items() if k != "mine finetune"} == \
        {k: v for k, v in keys.items() if k != "mine finetune"}
    plain = resolve_run_config(write_tiny_config(tmp_path, methods=["supervised", "mae"], **GRID))[0]
    index = rundata.index_source(plain)
    without = {f"{j.method} {j.kind}": j.key for j in build_jobs(plain, rundata.draw_splits(plain, index),
                                                                  index.fingerprint)}
    assert without == {k: v for k, v in keys.items() if k != "mine finetune"}  # methods' keys are unchanged


def test_an_encoder_only_file_transfers_the_encoder_and_the_head_is_never_loaded(tmp_path):
    state = _state()
    path = tmp_path / "encoder.safetensors"
    save_file({k: v for k, v in state.items() if not k.startswith("decoder.")} |
              {"head.weight": torch.ones(7, 4, 1, 1)}, str(path))  # a pretext head of another shape: ignored
    weights = resolve_imported_weights("mine", str(path), UNetConfig(base=4))
    assert weights.transfers == "encoder"
    torch.manual_seed(11)
    unet = UNet(UNetConfig(base=4))
    own = {k: v.clone() for k, v in unet.state_dict().items()}
    load_imported(unet, weights)
    after = unet.state_dict()
    assert all(torch.equal(after[k], state[k]) for k in after if k.startswith("encoder."))
    assert all(torch.equal(after[k], own[k]) for k in after if not k.startswith("encoder."))
    assert not torch.equal(after["encoder.stem.0.weight"], own["encoder.stem.0.weight"])


def test_the_metadata_of_an_export_decides_what_it_transfers(tmp_path):
    path = tmp_path / "moco.safetensors"
    save_unet_weights(path, _state(), UNetConfig(base=4), "encoder")  # all keys, as an export writes them
    assert resolve_imported_weights("mine", str(path), UNetConfig(base=4)).transfers == "encoder"
    save_unet_weights(path, _state(), UNetConfig(base=4))
    assert resolve_imported_weights("mine", str(path), UNetConfig(base=4)).transfers == "encoder+decoder"


def test_a_file_changed_after_planning_is_refused_when_the_job_reads_it(tmp_path):
    path = tmp_path / "w.safetensors"
    save_file(_state(), str(path))
    weights = resolve_imported_weights("mine", str(path), UNetConfig(base=4))
    assert set(read_imported(weights)) == set(_state())
    save_file({k: v + 1 if v.is_floating_point() else v for k, v in _state().items()}, str(path))
    with pytest.raises(BenchmarkError, match="changed since the run was planned"):
        read_imported(weights)


def test_a_config_file_names_external_weights_as_a_table(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text('methods = ["supervised"]\npretrained = { mine = "weights/mine.safetensors" }\n')
    config = load_config(path)
    assert config.pretrained == {"mine": str(Path("weights/mine.safetensors").resolve())}
    again = tmp_path / "again.toml"
    again.write_text(config.to_toml())  # what a run folder's config.toml holds reads back the same
    assert load_config(again) == config
    assert "pretrained" not in load_config(write_tiny_config(tmp_path)).to_toml()  # older runs' configs unchanged
