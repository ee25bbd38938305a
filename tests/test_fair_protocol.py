"""The fair protocol's known answers: equal budgets, one lr rule, shared randomness, scaled momentum
branches, controls that see what they should, thin vessels that stay connected, pool-scaled ratios."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage

from benchmark.config.run_config import build_config
from benchmark.data.preprocess import resize_mask
from benchmark.data.splits import Ratio, make_splits
from benchmark.model.unet import UNet
from benchmark.config.protocols import FAIR_BUDGETS
from benchmark.model.recipes import REFERENCE_BASE_LR, ema_momentum_for, queue_size_for
from benchmark.run.plan.jobs import build_jobs
from methods import registry

IDS = [f"i{n:03d}" for n in range(200)]


def _jobs(protocol: str = "fair", methods=None, ratios=("79:1", "70:10"), extra: int = 0):
    config = build_config({"profile": "tiny", "protocol": protocol, "ratios": list(ratios),
                           **({"methods": methods} if methods else {})})
    splits = make_splits(IDS, list(config.ratios), seed=0)
    return config, splits, build_jobs(config, splits, "fp", extra)


def test_fair_pretraining_gives_every_ssl_method_the_same_steps_batch_and_the_lr_rule():
    config, _, jobs = _jobs()
    budget = FAIR_BUDGETS["tiny"]
    pretrains = [j for j in jobs if j.kind == "pretrain"]
    assert {j.method for j in pretrains} == {n for n, c in registry().items() if c.pretrains}
    for job in pretrains:
        recipe = job.pretrain.recipe
        assert (recipe.optimizer, recipe.steps, recipe.batch_size, recipe.warmup_steps) == ("adamw", 60, 16, 8)
        base = registry()[job.method].base_lr
        assert recipe.lr == pytest.approx(base * 16 / 256 * budget.lr_factor)
    lrs = {j.method: j.pretrain.recipe.lr for j in pretrains}
    assert lrs["mae"] == pytest.approx(1e-3)  # the tiny factor is chosen so MAE gets the tiny rate
    assert lrs["spark"] / lrs["mae"] == pytest.approx(2e-4 / 1.5e-4)  # the papers' ratio survives
    assert lrs["cmunet"] == lrs["mae"] == lrs["genesis"] == lrs["moco"]  # CMAE's base is MAE's 1.5e-4
    assert FAIR_BUDGETS["paper"].lr(REFERENCE_BASE_LR) == pytest.approx(1.5e-4)


def test_small_profile_is_tiny_sizes_with_a_longer_shared_budget_and_no_fine_tuning_rate_above_pretraining():
    small, tiny = build_config({"profile": "small"}), build_config({"profile": "tiny"})
    assert [r.label for r in small.ratios] == ["70:10", "79:1"] and small.seeds == tuple(range(10))
    assert (small.preprocess, small.unet) == (tiny.preprocess, tiny.unet)
    for name, recipe in small.pretrain.items():  # one budget and one lr rule for every method
        assert (recipe.steps, recipe.warmup_steps, recipe.batch_size) == (200, 27, 16)
        assert recipe.lr == pytest.approx(tiny.pretrain[name].lr * 10)  # the rule's factor, ×10 for all
    assert small.pretrain["mae"].lr == pytest.approx(1e-2)
    # the calibration's lesson: the fine-tuning grid never exceeds the rate the weights were pre-trained at
    assert max(small.finetune.lr_grid) <= small.pretrain["control-oracle"].lr
    study = build_config({"profile": "small", "protocol": "study"})
    # study protocol: the tiny shrink, lengthened as the fair budget is (200 / 60 steps)
    assert study.pretrain["mae"].epochs == round(300 * 6 / 300 * 200 / 60)  # MAE: 300 published epochs
    assert study.pretrain["genesis"].batch_size == 4


def test_fair_protocol_crops_the_masked_methods_as_their_official_recipes_do():
    config, _, _ = _jobs()
    assert config.pretrain["mae"].crop_scale == (0.2, 1.0)
    assert config.pretrain["vasomim"].crop_scale == (0.2, 1.0)
    assert config.pretrain["spark"].crop_scale == (0.67, 1.0)
    assert config.pretrain["cmunet"].crop_scale is None  # augments inside its own step
    study, _, _ = _jobs("study")
    assert study.pretrain["mae"].crop_scale is None  # the study trained them on the images as they are


def test_study_protocol_keeps_the_published_recipes_and_their_unequal_budgets():
    config = build_config({"profile": "paper", "protocol": "study"})
    assert config.pretrain["cmunet"].lr == pytest.approx(2.4e-3)  # CMAE's 16-GPU constant, as published
    assert config.pretrain["genesis"].batch_size == 64 and config.pretrain["genesis"].optimizer == "sgd"
    tiny = build_config({"profile": "tiny", "protocol": "study"})
    assert tiny.pretrain["genesis"].batch_size == 4 and tiny.pretrain["mae"].batch_size == 16  # ÷ 16 for all
    assert tiny.preprocess.mask_resize == "nearest" and config.finetune.lr_grid == ()


def test_moco_queue_and_momentum_are_scaled_to_the_set_and_the_steps_by_the_written_rule():
    _, splits, jobs = _jobs(methods=["moco", "cmunet"])
    for job in (j for j in jobs if j.kind == "pretrain"):
        n = len(job.pretrain.image_ids)
        assert job.pretrain.settings.momentum == pytest.approx(max(0.9, 1 - 10 / 60))
        assert 1 / (1 - job.pretrain.settings.momentum) <= 60 / 5
        if job.method == "moco":
            assert job.pretrain.settings.queue_size == queue_size_for(n, 16)
            assert job.pretrain.settings.queue_size % 16 == 0 and job.pretrain.settings.queue_size <= n / 4
    assert queue_size_for(158, 16) == 32 and queue_size_for(100, 16) == 16 and queue_size_for(790, 256) == 256
    assert queue_size_for(100_000, 256) == 8 * 256
    assert ema_momentum_for(900) == pytest.approx(1 - 1 / 90) and ema_momentum_for(60) == 0.9


def test_methods_of_one_cell_share_fine_tuning_seed_validation_ids_and_untransferred_weights():
    _, _, jobs = _jobs(methods=["supervised", "mae", "moco", "control-null"])
    cell = {j.method: j for j in jobs if j.kind == "finetune" and j.ratio == "79:1"}
    assert cell["supervised"].job_seed == cell["mae"].job_seed == cell["moco"].job_seed
    assert cell["control-null"].job_seed != cell["supervised"].job_seed  # its own stream, by design
    assert cell["supervised"].finetune.val_ids == cell["mae"].finetune.val_ids == cell["moco"].finetune.val_ids
    heads, decoders = [], []
    for name in ("supervised", "mae", "moco"):
        torch.manual_seed(cell[name].job_seed)  # as the worker builds the fine-tuning UNet
        unet = UNet(cell[name].unet)
        pretrained = UNet(cell[name].unet).state_dict()  # any pre-trained weights
        pretrained = {k: v + 1.0 for k, v in pretrained.items()}
        registry()[name].load_transferred(unet, pretrained)
        heads.append(unet.head.state_dict())
        decoders.append(unet.decoder.state_dict())
    for other in heads[1:]:
        assert all(torch.equal(other[k], heads[0][k]) for k in heads[0])  # never transferred
    assert all(torch.equal(decoders[2][k], decoders[0][k]) for k in decoders[0])  # moco: encoder only
    assert not torch.equal(next(iter(decoders[1].values())), next(iter(decoders[0].values())))  # mae's came


def test_the_positive_control_pretrains_on_labels_of_its_pretraining_set_only(tmp_path):
    from benchmark.run.execute import runner
    from benchmark.run.execute.worker import run_job
    from benchmark.config.options import resolve_run_config
    from benchmark.train import loops
    from benchmark.train.device import DeviceOptions
    from conftest import write_tiny_config

    config = resolve_run_config(write_tiny_config(tmp_path, methods=["control-oracle"], ratios=["70:10"],
                                                  pretrain={"control-oracle": {"steps": 2, "batch_size": 8}}))[0]
    store, jobs = runner.open_run(config, tmp_path / "run")
    job = next(j for j in jobs if j.kind == "pretrain")
    finetune = next(j for j in jobs if j.kind == "finetune")
    assert not set(job.pretrain.image_ids) & set(finetune.finetune.train_ids + finetune.finetune.val_ids)
    assert not set(job.pretrain.image_ids) & set(finetune.finetune.test_ids)
    seen = {}
    real = loops.pretrain

    def spy(method, images, recipe, options, seed, progress=None, masks=None):
        seen["images"], seen["masks"] = images.clone(), masks.clone()
        return real(method, images, recipe, options, seed, progress, masks)

    from benchmark.run.folder import rundata
    from benchmark.run.handlers import pretrain as handler
    handler.pretrain = spy
    try:
        store.write_job(job)
        run_job(store.root, job.key, DeviceOptions(device="cpu"))
    finally:
        handler.pretrain = real
    data = rundata.load(store.prepared_path)
    index = data.index(job.pretrain.image_ids)
    assert torch.equal(seen["masks"][:, 0].bool(), torch.from_numpy(data.masks[index]))
    assert torch.equal(seen["images"][:, 0], torch.from_numpy(data.images[index]))
    assert store.state(job.key) == "done"
    from benchmark.train.flops import training_flops_per_image

    budget = store.read_status(job.key).outcome.budget()  # the budget a reader of the report sees
    assert (budget.steps, budget.images_seen) == (2, 16) and budget.lr == job.pretrain.recipe.lr
    assert budget.flops == pytest.approx(training_flops_per_image("control-oracle", job.unet, 32) * 16)


def test_a_thin_diagonal_vessel_stays_one_connected_tree_when_masks_shrink():
    mask = np.zeros((512, 512), bool)
    rows = np.arange(40, 470)
    mask[rows, (rows * 0.7 + 30).astype(int)] = True  # a 1-px vessel at a slant
    eight = np.ones((3, 3))
    assert ndimage.label(resize_mask(mask, 64, "area"), eight)[1] == 1
    assert ndimage.label(resize_mask(mask, 64, "nearest"), eight)[1] > 1  # what the study's resize does
    thick = np.zeros((512, 512), bool)
    thick[100:400, 200:264] = True  # a 64-px bar shrinks to an 8-px bar, not a thicker one
    assert resize_mask(thick, 64, "area").sum() == pytest.approx(8 * 38, abs=16)


def test_ratios_on_a_dataset_with_its_own_test_split_are_shares_of_its_pool():
    ids = [f"a{i:04d}" for i in range(1300)]
    test = ids[:300]  # ARCADE: 300 of 1,300 images (23 %) are its own test split
    ratios = [Ratio.parse(r) for r in ("50:30", "60:20", "70:10", "75:5", "79:1")]
    splits = make_splits(ids, ratios, test_ids=test)
    assert len(splits.ratio("79:1").finetune) == round(1000 / 80)  # 1/80 of the pool labelled
    assert len(splits.ratio("79:1").pretrain) == round(79 * 1000 / 80)
    assert len(splits.ratio("50:30").finetune) == 375


def test_every_profile_value_comes_from_its_one_table_entry(monkeypatch):
    """Adopting a calibration result is one edit: a changed PROFILE_TABLE entry is what a run's
    defaults and its pre-training budget read."""
    import dataclasses

    import benchmark.config.run_config as config
    from benchmark.config import profiles, protocols
    edited = dataclasses.replace(profiles.PROFILE_TABLE["small"], seeds=(7, 8), pretrain_steps=321,
                                 finetune_fair=profiles.FinetunePlan(lr=1e-2, batch_size=4, steps=99, lr_grid=(1e-3,)))
    monkeypatch.setitem(profiles.PROFILE_TABLE, "small", edited)  # the one table every module reads
    small = config.profile_defaults("small")
    assert small.seeds == (7, 8) and small.finetune.steps == 99 and small.finetune.lr_grid == (1e-3,)
    assert protocols.profile_budget(edited).steps == 321
    monkeypatch.undo()
    assert protocols.FAIR_BUDGETS["small"].lr(REFERENCE_BASE_LR) == pytest.approx(1e-2)  # MAE's reference rate
    assert config.profile_defaults("small").seeds == tuple(range(10))
