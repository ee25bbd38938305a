import pytest

from benchmark.data.splits import STUDY_RATIOS, Ratio, Splits, make_splits
from benchmark.core.errors import BenchmarkError

IDS = [f"img{i:03d}" for i in range(200)]
RATIOS = [Ratio.parse(r) for r in STUDY_RATIOS]


def test_ratio_parses_and_labels():
    ratio = Ratio.parse(" 79 : 1 ")
    assert (ratio.pt, ratio.ft, ratio.label) == (79.0, 1.0, "79:1")
    assert Ratio.parse("75.5:4.5").label == "75.5:4.5"


@pytest.mark.parametrize("text", ["79-1", "abc", "120:1", "79:0", ":1"])
def test_bad_ratio_is_a_user_error_naming_it(text):
    with pytest.raises(BenchmarkError, match="ratio"):
        Ratio.parse(text)


def test_test_split_has_the_fraction_and_is_disjoint_from_every_training_set():
    splits = make_splits(IDS, RATIOS, seed=3)
    assert len(splits.test) == 40
    for label, part in splits.ratios.items():
        used = set(part.pretrain) | set(part.finetune)
        assert not used & set(splits.test), label
        assert not set(part.pretrain) & set(part.finetune), label
        assert not set(part.finetune_train) & set(part.finetune_val), label


def test_counts_follow_the_ratio_of_the_whole_dataset():
    splits = make_splits(IDS, RATIOS, seed=0)
    assert len(splits.ratio("79:1").finetune) == 2
    assert len(splits.ratio("79:1").pretrain) == 158
    assert len(splits.ratio("50:30").finetune) == 60
    assert len(splits.ratio("50:30").pretrain) == 100
    assert len(splits.ratio("50:30").finetune_val) == 12


def test_finetune_sets_are_nested():
    splits = make_splits(IDS, RATIOS, seed=0)
    order = ["79:1", "75:5", "70:10", "60:20", "50:30"]
    for small, large in zip(order, order[1:]):
        assert set(splits.ratio(small).finetune) < set(splits.ratio(large).finetune)


def test_splits_are_identical_across_calls_and_round_trip_through_json(tmp_path):
    a = make_splits(IDS, RATIOS, seed=7)
    b = make_splits(IDS, RATIOS, seed=7)
    assert a == b
    a.save(tmp_path / "splits.json")
    assert Splits.load(tmp_path / "splits.json") == a
    assert make_splits(IDS, RATIOS, seed=8).test != a.test


def test_a_dataset_test_split_is_used_as_given():
    test_ids = IDS[:30]
    splits = make_splits(IDS, [Ratio.parse("60:20")], test_ids=test_ids)
    assert splits.test == sorted(test_ids)


def test_ratio_leaving_no_room_for_the_test_split_is_refused():
    with pytest.raises(BenchmarkError, match="exceeds"):
        make_splits(IDS, [Ratio.parse("70:20")], test_fraction=0.2)


def test_finetune_set_too_small_for_a_validation_part_is_refused():
    with pytest.raises(BenchmarkError, match="validation"):
        make_splits(IDS[:100], [Ratio.parse("79:1")])


def test_per_seed_splits_share_the_test_set_and_nest_within_each_seed_but_differ_between_seeds(tmp_path):
    splits = make_splits(IDS, RATIOS, seed=3, seeds=[0, 1, 2])
    assert splits.per_seed and not splits.ratios
    assert splits.test == make_splits(IDS, RATIOS, seed=3).test  # the seeds never move the test set
    labelled = {s: set(splits.ratio("79:1", s).finetune) for s in (0, 1, 2)}
    assert len({frozenset(v) for v in labelled.values()}) == 3  # each seed labels its own images
    for seed in (0, 1, 2):
        for small, large in zip(("79:1", "75:5", "70:10", "60:20"), ("75:5", "70:10", "60:20", "50:30")):
            assert set(splits.ratio(small, seed).finetune) < set(splits.ratio(large, seed).finetune)
        part = splits.ratio("79:1", seed)
        assert not set(part.pretrain) & set(part.finetune) and not set(part.finetune) & set(splits.test)
    splits.save(tmp_path / "splits.json")
    back = Splits.load(tmp_path / "splits.json")
    assert back == splits and back.ratio("79:1", 2) == splits.ratio("79:1", 2)
    assert [name for name, _ in back.labelled_sets()][:2] == ["50:30 seed 0", "60:20 seed 0"]
    with pytest.raises(BenchmarkError, match="seed 7 has no splits"):
        back.ratio("79:1", 7)


def test_a_seed_draws_the_same_sets_whichever_other_seeds_the_run_has():
    """Adding seeds to a run must not move the images of the seeds it already had."""
    few, more = make_splits(IDS, RATIOS, seed=3, seeds=[0, 1]), make_splits(IDS, RATIOS, seed=3, seeds=[4, 1, 0])
    assert few.ratio("79:1", 1) == more.ratio("79:1", 1) and few.ratio("50:30", 0) == more.ratio("50:30", 0)


def _sides(splits: Splits, seed: int | None = None) -> dict[str, set[str]]:
    """Which parts each image is in, over every ratio."""
    sides: dict[str, set[str]] = {i: set() for i in IDS}
    for i in splits.test:
        sides[i].add("test")
    for label in splits.one_seeds_sets() if seed is None else splits.by_seed[str(seed)]:
        part = splits.ratio(label, seed)
        for name in ("pretrain", "finetune_train", "finetune_val"):
            for i in getattr(part, name):
                sides[i].add(f"{label} {name}")
    return sides


def test_groups_of_duplicates_stay_on_one_side_of_every_cut():
    """Forty pairs and a triple over 200 images: whatever the seed, no group has members in two
    parts (test, and per ratio fine-tuning train, validation and pre-training)."""
    twins = [IDS[k:k + 2] for k in range(0, 80, 2)] + [IDS[100:103]]
    for seed in range(5):
        splits = make_splits(IDS, RATIOS, seed=seed, twins=twins, seeds=[0, 1])
        for s in (0, 1):
            sides = _sides(splits, s)
            for group in twins:
                assert len({frozenset(sides[i]) for i in group}) == 1, (seed, s, group, [sides[i] for i in group])
        part = splits.ratio("79:1", 0)
        assert len(part.finetune) in (2, 3) and part.finetune_val  # cuts move by at most a group's extra copies
        assert abs(len(splits.test) - 40) <= 2


def test_with_the_datasets_own_test_split_a_test_images_copies_are_left_out():
    test = IDS[:40]
    twins = [[IDS[0], IDS[150]], [IDS[60], IDS[61]]]
    splits = make_splits(IDS, [Ratio.parse("60:20")], test_ids=test, twins=twins)
    assert splits.left_out == [IDS[150]] and splits.test == sorted(test)
    part = splits.ratio("60:20")
    assert IDS[150] not in part.pretrain + part.finetune


def test_left_out_images_are_read_back_from_the_splits_file(tmp_path):
    splits = make_splits(IDS, [Ratio.parse("60:20")], test_ids=IDS[:40], twins=[[IDS[0], IDS[150]]])
    splits.save(tmp_path / "splits.json")
    assert Splits.load(tmp_path / "splits.json").left_out == [IDS[150]]
