"""The frozen-encoder probe: the transferred encoder stays as it was (weights and norm statistics), only
the decoder and head train; runs can do it alone or beside full fine-tuning, and the report sets the
two side by side with their own statistics."""

import pandas as pd
import pytest
import torch

from benchmark.config.run_config import build_config
from benchmark.data.splits import make_splits
from benchmark.core.errors import BenchmarkError
from benchmark.model.unet import UNet, UNetConfig
from benchmark.model.recipes import FinetuneRecipe
from benchmark.run.execute import runner
from benchmark.run.plan.jobs import build_jobs
from benchmark.run.folder.store import RunStore, load_results
from benchmark.config.options import ExecutorConfig, resolve_run_config
from benchmark.train.device import DeviceOptions
from benchmark.train.loops import TensorSet, finetune, freeze_encoder

IDS = [f"i{n:03d}" for n in range(200)]


def test_a_frozen_encoder_keeps_its_weights_and_norm_statistics_while_the_decoder_learns():
    torch.manual_seed(0)
    unet = UNet(UNetConfig(base=4, depth=2))
    freeze_encoder(unet)
    before = {k: v.clone() for k, v in unet.state_dict().items()}
    images = torch.randn(8, 1, 32, 32)
    masks = images > 0.5
    data = TensorSet(images, masks[:, 0])
    recipe = FinetuneRecipe(lr=1e-2, batch_size=4, steps=6, eval_every=3)
    result = finetune(unet, data.subset(range(6)), data.subset(range(6, 8)), recipe, DeviceOptions(), seed=0)
    after = result.state if result.best_epoch > 0 else unet.state_dict()
    encoder = [k for k in before if k.startswith("encoder.")]
    assert any("running_mean" in k for k in encoder)  # the norm statistics are among what is checked
    assert all(torch.equal(before[k], after[k]) for k in encoder)
    assert any(not torch.equal(before[k], after[k]) for k in before if k.startswith("decoder."))


def test_both_evaluations_add_a_probe_job_per_cell_and_keep_every_fine_tune_key():
    table = {"profile": "tiny", "methods": ["supervised", "mae"], "ratios": ["70:10"], "seeds": [0, 1]}
    plain, both = build_config(table), build_config({**table, "evaluation": "both"})
    splits = make_splits(IDS, list(plain.ratios), seed=0, seeds=plain.seeds)
    fine = {j.key for j in build_jobs(plain, splits, "fp") if j.kind == "finetune"}
    jobs = [j for j in build_jobs(both, splits, "fp") if j.kind == "finetune"]
    assert len(jobs) == 2 * len(fine) and fine <= {j.key for j in jobs}
    probes = [j for j in jobs if j.finetune.frozen_encoder]
    assert len(probes) == len(fine) and all(j.label.startswith(f"{j.method} frozen-encoder fine-tune") for j in probes)
    only = build_config({**table, "evaluation": "frozen-encoder"})
    assert {j.key for j in build_jobs(only, splits, "fp") if j.kind == "finetune"} == {j.key for j in probes}
    assert "evaluation" not in plain.to_toml() and 'evaluation = "both"' in both.to_toml()


def test_an_unknown_evaluation_is_refused_naming_the_option(tmp_path):
    with pytest.raises(BenchmarkError, match="evaluation: 'linear' is not one of 'finetune', 'frozen-encoder', 'both'"):
        resolve_run_config(None, profile="tiny", evaluation="linear")


@pytest.fixture(scope="module")
def both_run(tmp_path_factory):
    from conftest import write_tiny_config
    folder = tmp_path_factory.mktemp("probe")
    path = write_tiny_config(folder, methods=["supervised", "mae", "control-oracle"], ratios=["70:10"], seeds=[0, 1, 2],
                             evaluation="both", pretrain={"mae": {"epochs": 1, "steps": 4, "batch_size": 8},
                                                         "control-oracle": {"epochs": 1, "steps": 4, "batch_size": 8}})
    outcome = runner.run_benchmark(resolve_run_config(path)[0], folder / "run", ExecutorConfig(kind="inline", precision="fp32"))
    assert not outcome.summary.failed
    return folder / "run"


def test_rows_say_which_evaluation_made_them_and_the_probe_kept_the_transferred_encoder(both_run):
    rows = load_results(both_run)
    assert set(rows["evaluation"]) == {"finetune", "frozen-encoder"}
    assert rows.groupby("evaluation")["job_key"].nunique().tolist() == [9, 9]
    store = RunStore(both_run)
    probe = next(k for k in rows.loc[(rows["evaluation"] == "frozen-encoder") & (rows["method"] == "mae"), "job_key"])
    job = next(j for j in runner.plan_run(resolve_run_config(both_run / "config.toml")[0], both_run)[1] if j.key == probe)
    pretrained = store.read_checkpoint(job.finetune.pretrained)
    tuned = store.read_checkpoint(probe)
    encoder = [k for k in tuned if k.startswith("encoder.")]
    assert encoder and all(torch.equal(pretrained[k], tuned[k]) for k in encoder)


def test_the_report_sets_the_two_evaluations_side_by_side_with_their_own_controls(both_run):
    from reports import build_report
    result = build_report(both_run, formats=("png",))
    table = pd.read_csv(both_run / "report" / "tables" / "evaluations.csv")
    assert set(table["method"]) == {"supervised", "mae", "control-oracle"}
    assert table[["mean_finetune", "mean_frozen_encoder"]].notna().all().all()
    assert any(line.startswith("Frozen-encoder probe: Positive control") for line in result.summary)
    significance = pd.read_csv(both_run / "report" / "tables" / "significance.csv")
    assert len(significance) == 3  # the main tables hold one evaluation: no method counted twice
