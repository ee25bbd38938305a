import dataclasses

from benchmark.config.run_config import build_config
from benchmark.data.splits import make_splits
from benchmark.run.plan.jobs import build_jobs, derive_seed

IDS = [f"i{n:03d}" for n in range(200)]


def _grid(**table):
    config = build_config({"profile": "tiny", **table})
    splits = make_splits(IDS, list(config.ratios), seed=0)
    return config, splits


def test_grid_expands_to_pretrain_and_finetune_jobs_with_dependencies():
    config, splits = _grid(methods=["supervised", "mae"], ratios=["70:10", "60:20"], seeds=[0, 1])
    jobs = build_jobs(config, splits, "fp")
    pre = [j for j in jobs if j.kind == "pretrain"]
    fine = [j for j in jobs if j.kind == "finetune"]
    assert len(fine) == 2 * 2 * 2
    assert len(pre) == 2 * 2  # mae × 2 pre-training sets (70 % and 60 %) × 2 seeds
    assert all(j.depends_on == () for j in fine if j.method == "supervised")
    keys = {j.key for j in pre}
    assert all(len(j.depends_on) == 1 and j.depends_on[0] in keys for j in fine if j.method == "mae")
    assert len({j.key for j in jobs}) == len(jobs)


def test_ratios_sharing_a_pretraining_set_share_its_job():
    config, splits = _grid(methods=["mae"], ratios=["70:10", "79:1"])
    splits.ratios["79:1"] = dataclasses.replace(splits.ratios["79:1"], pretrain=splits.ratios["70:10"].pretrain)
    jobs = build_jobs(config, splits, "fp")
    assert sum(j.kind == "pretrain" for j in jobs) == 1


def test_keys_are_stable_and_change_only_with_the_inputs():
    config, splits = _grid(methods=["supervised", "mae"], ratios=["70:10"])
    base = {j.key for j in build_jobs(config, splits, "fp")}
    assert base == {j.key for j in build_jobs(config, splits, "fp")}
    assert base.isdisjoint({j.key for j in build_jobs(config, splits, "other-data")})
    longer = dataclasses.replace(config, finetune=dataclasses.replace(config.finetune, epochs=99))
    changed = {j.key for j in build_jobs(longer, splits, "fp")}
    pre_keys = {k for k in base if k.startswith("pretrain")}
    assert pre_keys <= changed  # fine-tuning recipe does not touch pre-training
    assert {k for k in base if k.startswith("finetune")}.isdisjoint(changed)
    recipe = dataclasses.replace(config.pretrain["mae"], lr=1.0)
    other = dataclasses.replace(config, pretrain={**config.pretrain, "mae": recipe})
    new = {j.key for j in build_jobs(other, splits, "fp")}
    assert {k for k in base if "supervised" in k} <= new
    assert {k for k in base if "mae" in k}.isdisjoint(new)


def test_adding_a_seed_keeps_the_existing_jobs():
    config, splits = _grid(methods=["supervised"], ratios=["70:10"], seeds=[0])
    wider = dataclasses.replace(config, seeds=(0, 1))
    assert {j.key for j in build_jobs(config, splits, "fp")} < {j.key for j in build_jobs(wider, splits, "fp")}


def test_derived_seeds_differ_by_stage_method_and_ratio():
    seeds = {derive_seed(0, m, r, s) for m in ("a", "b") for r in ("70:10", "79:1") for s in ("x", "y")}
    assert len(seeds) == 8
    assert derive_seed(0, "a", "70:10", "x") == derive_seed(0, "a", "70:10", "x")


def test_per_seed_splits_give_each_seed_its_own_labelled_images_shared_by_every_method_of_the_cell():
    config = build_config({"profile": "tiny", "methods": ["supervised", "mae"], "ratios": ["79:1", "70:10"],
                           "seeds": [0, 1]})
    splits = make_splits(IDS, list(config.ratios), seed=0, seeds=config.seeds)
    fine = [j for j in build_jobs(config, splits, "fp") if j.kind == "finetune"]
    for job in fine:
        assert job.finetune.train_ids == tuple(splits.ratio(job.ratio, job.seed).finetune_train)
    cells = {}
    for job in fine:
        cells.setdefault((job.ratio, job.seed), set()).add(job.finetune.train_ids)
    assert all(len(ids) == 1 for ids in cells.values())  # one labelled set per cell, every method on it
    assert cells[("79:1", 0)] != cells[("79:1", 1)]
    pre = {j.seed: j.pretrain.image_ids for j in build_jobs(config, splits, "fp") if j.kind == "pretrain" and j.ratio == "79:1"}
    assert pre[0] == tuple(splits.ratio("79:1", 0).pretrain) and pre[0] != pre[1]
