"""External test sets: named and checked on the way in, scored by every fine-tuned model with the
run's pre-processing, in their own rows, never used to select a model, and reported apart."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from typer.testing import CliRunner

from benchmark.cli import app
from benchmark.data.external import IN_DOMAIN, ExternalTestRef, parse_external_test, parse_external_tests
from benchmark.data.splits import Splits
from benchmark.data.synthetic import write_synthetic
from benchmark.core.errors import BenchmarkError
from benchmark.export import ExportChoice, export_model, load_unet
from benchmark.run.folder import rundata
from benchmark.run.execute import runner
from benchmark.run.plan.jobs import build_jobs
from benchmark.run.folder.store import METRIC_COLUMNS, RunStore, load_results
from benchmark.config.options import ExecutorConfig, resolve_run_config
from conftest import write_tiny_config
from reports.tables.generalisation import generalisation_lines, generalisation_table
from reports.read.contents import read_run

pytestmark = pytest.mark.usefixtures("study_looks")  # methods named as their files declare

INLINE = ExecutorConfig(kind="inline")


def test_an_entry_is_name_equals_path_or_a_path_named_after_its_folder(tmp_path):
    (tmp_path / "DCA1").mkdir()
    assert parse_external_test(f"dca={tmp_path / 'DCA1'}").name == "dca"
    named = parse_external_test(str(tmp_path / "DCA1"))
    assert (named.name, named.path, named.entry) == ("DCA1", tmp_path / "DCA1", f"DCA1={tmp_path / 'DCA1'}")


@pytest.mark.parametrize("entry, message", [
    ("{root}/nowhere", "does not exist"),
    ("in-domain={root}/DCA1", "the run's own test split"),
    ("a=", "no path given"),
])
def test_a_bad_entry_is_refused_naming_it(tmp_path, entry, message):
    (tmp_path / "DCA1").mkdir()
    entry = entry.format(root=tmp_path)
    with pytest.raises(BenchmarkError, match=message) as error:
        parse_external_test(entry)
    assert entry in str(error.value)


def test_two_sets_of_one_name_the_same_set_twice_or_the_runs_own_data_are_refused(tmp_path):
    for name in ("a/test", "b/test"):
        (tmp_path / name).mkdir(parents=True)
    with pytest.raises(BenchmarkError, match="two external test sets are named 'test'"):
        parse_external_tests([str(tmp_path / "a/test"), str(tmp_path / "b/test")], "synthetic")
    with pytest.raises(BenchmarkError, match="given twice"):
        parse_external_tests([f"x={tmp_path / 'a/test'}", f"y={tmp_path / 'a/test'}"], "synthetic")
    with pytest.raises(BenchmarkError, match="the run's own dataset"):
        parse_external_tests([str(tmp_path / "a/test")], str(tmp_path / "a/test"))
    both = parse_external_tests([f"x={tmp_path / 'a/test'}", f"y={tmp_path / 'b/test'}"], "synthetic")
    assert [t.name for t in both] == ["x", "y"]


def test_the_cli_refuses_a_missing_external_set_in_one_line_and_writes_nothing(tmp_path):
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["run", "--profile", "tiny", "--external-test", str(tmp_path / "nope"),
                                      "--out", str(out)])
    assert result.exit_code == 2
    assert f"--external-test '{tmp_path / 'nope'}'" in result.output and "does not exist" in result.output
    assert not out.exists()


def test_external_sets_add_score_jobs_and_change_no_training_job(tmp_path):
    config, _ = resolve_run_config(write_tiny_config(tmp_path, methods=["supervised", "mae"]))
    index = rundata.index_source(config)
    splits = rundata.draw_splits(config, index)
    plain = build_jobs(config, splits, "fp")
    assert [j.key for j in plain] == [j.key for j in build_jobs(config, splits, "fp", 0, ())]
    scored = build_jobs(config, splits, "fp", 0, (ExternalTestRef("other", "abc", 6),))
    assert [j.key for j in scored[:len(plain)]] == [j.key for j in plain]  # the same training jobs
    finetunes = [j for j in plain if j.kind == "finetune"]
    scores = scored[len(plain):]
    assert [j.kind for j in scores] == ["score"] * len(finetunes)
    assert [j.depends_on for j in scores] == [(f.key,) for f in finetunes]
    assert [(j.method, j.ratio, j.seed) for j in scores] == [(f.method, f.ratio, f.seed) for f in finetunes]
    changed = build_jobs(config, splits, "fp", 0, (ExternalTestRef("other", "def", 6),))[len(plain):]
    assert {j.key for j in scores}.isdisjoint(j.key for j in changed)  # another content: other score jobs
    assert scores[0].label == f"{scores[0].method} score on other {scores[0].ratio} seed 0"


def _copy_images(source, ids, target, invert_masks=False):
    for folder in ("imgs", "masks"):
        (target / folder).mkdir(parents=True)
    for image_id in ids:
        shutil.copy(source / "imgs" / f"{image_id}.png", target / "imgs" / f"{image_id}.png")
        mask = np.array(Image.open(source / "masks" / f"{image_id}.png"))
        Image.fromarray((255 - mask) if invert_masks else mask).save(target / "masks" / f"{image_id}.png")


@pytest.fixture(scope="module")
def scored_runs(tmp_path_factory):
    """The same one-method grid run twice: without external sets, and with two: `twin`, copies of
    the run's own test images (the same answer must come out), and `inverted`, other images whose
    masks are inverted (a model selected on it would differ)."""
    root = tmp_path_factory.mktemp("external")
    source = write_synthetic(root / "source", 40, 64, 0)
    path = write_tiny_config(root, methods=["supervised"], ratios=["70:10"])
    plain, _ = resolve_run_config(path, data=str(source))
    runner.run_benchmark(plain, root / "plain", INLINE)
    test_ids = Splits.load(RunStore(root / "plain").splits_path).test
    _copy_images(source, test_ids[:4], root / "twin")
    write_synthetic(root / "other", 6, 64, 7)
    _copy_images(root / "other", [f"synth_{i:04d}" for i in range(6)], root / "inverted", invert_masks=True)
    command = ["run", "--config", str(path), "--data", str(source), "--external-test", str(root / "twin"),
               "--external-test", f"inverted={root / 'inverted'}", "--out", str(root / "scored"), "--executor", "inline"]
    result = CliRunner().invoke(app, command, terminal_width=200)
    assert result.exit_code == 0, result.output
    return root, test_ids, result.output


def test_every_fine_tuned_model_is_scored_on_each_external_set_in_its_own_rows(scored_runs):
    root, test_ids, _ = scored_runs
    rows = load_results(root / "scored", "all")
    sizes = rows.groupby("test_set").size().to_dict()
    assert sizes == {IN_DOMAIN: len(test_ids), "twin": 4, "inverted": 6}
    assert rows.groupby("test_set")["n_test"].first().to_dict() == sizes
    assert set(load_results(root / "scored")["test_set"]) == {IN_DOMAIN}  # the default: the run's own split
    assert set(load_results(root / "scored", "external")["test_set"]) == {"twin", "inverted"}
    # the twin's images are the run's own test images: the same pre-processing and model give the same scores
    own = rows[rows["test_set"] == IN_DOMAIN].set_index("image_id").loc[test_ids[:4], METRIC_COLUMNS]
    twin = rows[rows["test_set"] == "twin"].set_index("image_id").loc[test_ids[:4], METRIC_COLUMNS]
    pd.testing.assert_frame_equal(own, twin)


def test_external_sets_never_enter_model_selection(scored_runs):
    """With or without external sets (one with inverted masks), the same lr and epoch are chosen,
    on the same validation curve, and the run's own test rows are identical."""
    root, _, _ = scored_runs
    plain, scored = RunStore(root / "plain"), RunStore(root / "scored")
    (plain_key,), (scored_key,) = ([k for k in s.job_keys() if s.read_job(k).kind == "finetune"] for s in (plain, scored))
    assert plain_key == scored_key  # the fine-tune job does not even know there are external sets
    assert plain.read_status(plain_key).outcome == scored.read_status(scored_key).outcome  # lr, epoch, Dice, steps
    pd.testing.assert_frame_equal(pd.read_parquet(plain.history_path(plain_key)),
                                  pd.read_parquet(scored.history_path(scored_key)))
    columns = ["image_id", *METRIC_COLUMNS]
    pd.testing.assert_frame_equal(load_results(root / "plain")[columns], load_results(root / "scored")[columns])
    score_jobs = [scored.read_job(k) for k in scored.job_keys() if scored.read_job(k).kind == "score"]
    assert sorted(j.score.test_set.name for j in score_jobs) == ["inverted", "twin"]
    assert all(j.score.finetune == scored_key and j.depends_on == (scored_key,) for j in score_jobs)


def test_adding_an_external_set_to_a_finished_run_only_scores_its_models(scored_runs, tmp_path):
    root, test_ids, _ = scored_runs
    shutil.copytree(root / "plain", tmp_path / "run")
    path = write_tiny_config(tmp_path, methods=["supervised"], ratios=["70:10"])
    shutil.copytree(root / "twin", tmp_path / "twin")
    config, _ = resolve_run_config(path, data=str(root / "source"), external_tests=[str(tmp_path / "twin")])
    outcome = runner.run_benchmark(config, tmp_path / "run", INLINE)
    assert [outcome.store.read_job(k).kind for k in outcome.summary.done] == ["score"]
    assert len(outcome.summary.already_done) == 1  # the fine-tune job: nothing is trained again
    added = load_results(tmp_path / "run", "external")
    before = load_results(root / "scored", "external").query("test_set == 'twin'")
    columns = ["image_id", *METRIC_COLUMNS]
    pd.testing.assert_frame_equal(added[columns].reset_index(drop=True), before[columns].reset_index(drop=True))
    plain_config, _ = resolve_run_config(path, data=str(root / "source"))
    with pytest.raises(BenchmarkError, match="scored its models on the external test set"):
        runner.run_benchmark(plain_config, tmp_path / "run", INLINE)
    mask = tmp_path / "twin" / "masks" / f"{test_ids[0]}.png"
    Image.fromarray(255 - np.array(Image.open(mask))).save(mask)  # the set's content changes on disk
    more, _ = resolve_run_config(path, data=str(root / "source"),
                                 external_tests=[str(tmp_path / "twin"), str(root / "inverted")])
    for changed in (config, more):  # going on as it is, or adding a set
        with pytest.raises(BenchmarkError, match="'twin' has changed since this run scored it"):
            runner.run_benchmark(changed, tmp_path / "run", INLINE)
    assert RunStore(tmp_path / "run").config_path.read_text() == config.to_toml()  # a refusal changes nothing


def test_the_run_command_prints_and_reports_each_external_sets_dice(scored_runs):
    root, _, output = scored_runs
    assert "mean test Dice" in output
    assert "external test set inverted (scored only" in output and "external test set twin (scored only" in output
    tables = root / "scored" / "report" / "tables"
    assert "| inverted Dice | Δ inverted | twin Dice | Δ twin |" in (tables / "generalisation.md").read_text()
    assert "external test set twin (4 images): Dice" in (root / "scored" / "report" / "index.html").read_text()


def test_the_report_keeps_external_rows_out_of_every_table_but_the_generalisation_table(scored_runs):
    root, test_ids, _ = scored_runs
    contents = read_run(root / "scored")
    assert set(contents.rows["test_set"]) == {IN_DOMAIN} and len(contents.rows) == len(test_ids)
    table = generalisation_table(contents.rows, contents.external_rows)
    assert table.columns == ("Method", "PT:FT", "in-domain Dice", "inverted Dice", "Δ inverted", "twin Dice", "Δ twin")
    assert contents.dataset.external_sizes == {"twin": 4, "inverted": 6}
    record = table.data.iloc[0]
    in_domain = contents.rows["dice"].mean()
    assert record["in-domain_dice"] == pytest.approx(in_domain)
    twin = contents.external_rows.query("test_set == 'twin'")["dice"].mean()
    assert record["twin_change"] == pytest.approx(twin - in_domain)
    assert record["inverted_n_images"] == 6


def test_an_exported_model_card_lists_its_external_scores_apart(scored_runs, tmp_path):
    root, test_ids, _ = scored_runs
    export = export_model(root / "scored", ExportChoice("supervised", ratio="70:10"), tmp_path / "export")
    _, card = load_unet(export.root)
    assert card.test.images == len(test_ids)
    assert {name: s.images for name, s in card.external_tests.items()} == {"twin": 4, "inverted": 6}
    rows = load_results(root / "scored", "external")
    assert card.external_tests["inverted"].means["dice"] == pytest.approx(rows.query("test_set == 'inverted'")["dice"].mean())
    assert "## External test sets" in (export.root / "MODEL_CARD.md").read_text()
    assert json.loads((export.root / "model_card.json").read_text())["external_tests"]["twin"]["images"] == 4


def test_an_external_image_the_run_trains_on_is_refused_before_the_folder_is_made(scored_runs, tmp_path):
    root, test_ids, _ = scored_runs
    trained = sorted(set(rundata.load(RunStore(root / "plain").prepared_path).ids) - set(test_ids))[:2]
    _copy_images(root / "source", trained, tmp_path / "leak")
    config, _ = resolve_run_config(write_tiny_config(tmp_path, methods=["supervised"], ratios=["70:10"]),
                                   data=str(root / "source"), external_tests=[str(tmp_path / "leak")])
    with pytest.raises(BenchmarkError, match=f"external test set 'leak': image {trained[0]} is the run's image"):
        runner.run_benchmark(config, tmp_path / "run", INLINE)
    assert not (tmp_path / "run").exists()


def test_an_external_image_nearly_equal_to_a_trained_one_is_refused_naming_both(scored_runs, tmp_path):
    """A trained image re-saved with mild noise (and its mask) is a near duplicate: refused."""
    root, test_ids, _ = scored_runs
    trained = sorted(set(rundata.load(RunStore(root / "plain").prepared_path).ids) - set(test_ids))[:2]
    _copy_images(root / "source", trained, tmp_path / "leak")
    image_path = next((tmp_path / "leak").rglob(f"{trained[0]}.png"))
    pixels = np.asarray(Image.open(image_path), dtype=int)
    noise = np.random.default_rng(1).integers(-2, 3, pixels.shape)
    Image.fromarray(np.clip(pixels + noise, 0, 255).astype(np.uint8)).save(image_path)
    config, _ = resolve_run_config(write_tiny_config(tmp_path, methods=["supervised"], ratios=["70:10"]),
                                   data=str(root / "source"), external_tests=[str(tmp_path / "leak")])
    with pytest.raises(BenchmarkError, match=f"image {trained[0]} is a near duplicate of the run's image {trained[0]}"):
        runner.run_benchmark(config, tmp_path / "run", INLINE)
    assert not (tmp_path / "run").exists()


def test_prepared_data_without_the_planned_external_set_is_refused(scored_runs):
    root, _, _ = scored_runs
    data = rundata.load(RunStore(root / "scored").prepared_path)
    twin = next(t for t in data.external if t.name == "twin")
    assert data.external_set(ExternalTestRef("twin", twin.fingerprint)) is twin
    with pytest.raises(BenchmarkError, match="'twin' was planned on data other"):
        data.external_set(ExternalTestRef("twin", "other"))
    with pytest.raises(BenchmarkError, match="'gone' is not in the run folder"):
        data.external_set(ExternalTestRef("gone", "x"))


def _rows(test_set, values):
    """Rows of one method and ratio: `values[seed]` lists that seed's Dice per image."""
    return pd.DataFrame([{"method": "supervised", "ratio": "70:10", "seed": seed, "image_id": f"i{n}",
                          "test_set": test_set, "dice": dice}
                         for seed, dices in enumerate(values) for n, dice in enumerate(dices)])


def test_generalisation_table_on_rows_with_a_hand_worked_answer():
    in_domain = _rows(IN_DOMAIN, [[0.8, 0.6], [0.7, 0.5]])  # seed means 0.7, 0.6 → 0.65
    external = _rows("dca1", [[0.4, 0.2], [0.3, 0.1]])  # seed means 0.3, 0.2 → 0.25
    table = generalisation_table(in_domain, external)
    record = table.data.iloc[0]
    assert record["in-domain_dice"] == pytest.approx(0.65) and record["dca1_dice"] == pytest.approx(0.25)
    assert record["dca1_change"] == pytest.approx(-0.40)
    assert table.cells[0][:2] == ("UNet (no PT)", "70:10") and table.cells[0][2].startswith("0.650 [")
    assert table.cells[0][4] == "−0.400"
    assert generalisation_table(in_domain, external.iloc[0:0]) is None


def test_the_headline_gives_each_external_sets_range_of_dice_changes_without_the_controls():
    in_domain = pd.concat([_rows(IN_DOMAIN, [[0.8, 0.6], [0.7, 0.5]]),
                           _rows(IN_DOMAIN, [[0.5, 0.5]]).assign(method="mae")], ignore_index=True)
    external = pd.concat([_rows("dca1", [[0.4, 0.2], [0.3, 0.1]]), _rows("dca1", [[0.6, 0.6]]).assign(method="mae"),
                          _rows("dca1", [[0.0, 0.0]]).assign(method="control-null")], ignore_index=True)
    in_domain = pd.concat([in_domain, _rows(IN_DOMAIN, [[0.9, 0.9]]).assign(method="control-null")])
    assert generalisation_lines(in_domain, external) == [
        "external test set dca1 (2 images): Dice −0.400 to +0.100 from in-domain over 2 method × ratio cells "
        "(the generalisation table)"]
    assert generalisation_lines(in_domain, external.iloc[0:0]) == []


def _seed_rows(method, test_set, per_seed):
    """Three images per seed, each with that seed's Dice."""
    return pd.DataFrame([{"method": method, "ratio": "79:1", "seed": seed, "image_id": f"i{n}",
                          "test_set": test_set, "dice": dice} for seed, dice in enumerate(per_seed) for n in range(3)])


def test_each_test_set_gets_its_own_run_level_marker_against_the_baseline():
    """MAE ties the baseline in-domain (seed differences ±0.01, ±0.02) and beats it by 0.2 on the
    external set (seed differences 0.20, 0.25, 0.15, 0.20: t = 9.8 on 3 df): ↑ there only."""
    in_domain = pd.concat([_seed_rows("supervised", IN_DOMAIN, [0.6] * 4),
                           _seed_rows("mae", IN_DOMAIN, [0.61, 0.59, 0.62, 0.58])])
    external = pd.concat([_seed_rows("supervised", "dca1", [0.3] * 4),
                          _seed_rows("mae", "dca1", [0.5, 0.55, 0.45, 0.5])])
    table = generalisation_table(in_domain, external)
    data = table.data.set_index("method")
    assert data.loc["mae", "in-domain_verdict"] == "no detectable difference"
    assert data.loc["mae", "dca1_verdict"] == "better"
    mae = next(row for row in table.cells if row[0] == "MAE")
    assert not mae[2].endswith("↑") and mae[3].endswith("↑")
    assert not any(cell.endswith(("↑", "↓")) for cell in next(r for r in table.cells if r[0] == "UNet (no PT)"))
