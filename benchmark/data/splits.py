"""Train/test splits shared by every method and every re-run, written to and read from JSON.

A fixed test split is drawn once; the rest of the data (the pool) is shuffled, fine-tuning sets are
prefixes of that order (so the 1 % set ⊂ the 5 % set ⊂ … and ratios differ only in label count) and
pre-training sets are suffixes of it (disjoint from the fine-tuning set of their ratio).

By default each seed shuffles the pool its own way (`LABELLED_SPLITS`: "per-seed"): which images
got labelled is then part of what the seeds vary, so a verdict covers other draws of the labelled
images, not only one — the question a user with their own handful of labels asks. Within a seed the
sets stay nested across ratios and every method shares them. "shared" keeps one order for every
seed (comparability with published splits). The test split is the same for every seed either way.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from benchmark.core.errors import BenchmarkError
from benchmark.core.files import atomic_write_text

STUDY_RATIOS = ("50:30", "60:20", "70:10", "75:5", "79:1")  # PT:FT
#: A ratio's shares are percent of the study's training pool, which is 80 % of its data (20 % test):
#: on any dataset they are scaled to the pool left after the test split, so 79:1 means "1/80 of the
#: pool labelled, 79/80 for pre-training" on a random 20 % split and on ARCADE's own 23 % alike.
STUDY_POOL_PERCENT = 80.0
#: How the labelled (and pre-training) sets relate across seeds: one draw per seed, or one for all.
LABELLED_SPLITS = ("per-seed", "shared")


@dataclass(frozen=True, order=True)
class Ratio:
    """A PT:FT ratio in percent of the whole dataset, e.g. 79:1."""

    pt: float
    ft: float

    @classmethod
    def parse(cls, text: str) -> "Ratio":
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*:\s*(\d+(?:\.\d+)?)\s*", text)
        if not match:
            raise BenchmarkError(f"ratio {text!r} is not of the form PT:FT, e.g. 79:1")
        ratio = cls(float(match.group(1)), float(match.group(2)))
        for part, value in (("PT", ratio.pt), ("FT", ratio.ft)):
            if not 0 <= value <= 100:
                raise BenchmarkError(f"ratio {text!r}: {part} share {value:g} is not in 0–100")
        if ratio.ft <= 0:
            raise BenchmarkError(f"ratio {text!r}: the fine-tuning share must be above 0")
        return ratio

    @classmethod
    def from_plain(cls, value: object, where: str = "ratio") -> "Ratio":
        """A ratio read from a config or job file, where it is written as its label."""
        if not isinstance(value, str):
            raise BenchmarkError(f"{where}: expected a ratio such as '79:1', got {value!r}")
        return cls.parse(value)

    def to_plain(self) -> str:
        return self.label

    @property
    def label(self) -> str:
        return f"{self.pt:g}:{self.ft:g}"

    def __str__(self) -> str:
        return self.label


@dataclass(frozen=True)
class RatioSplit:
    pretrain: list[str]
    finetune_train: list[str]
    finetune_val: list[str]

    @property
    def finetune(self) -> list[str]:
        return self.finetune_train + self.finetune_val


@dataclass
class Splits:
    """Image ids of the test set and of each ratio's pre-training / fine-tuning / validation sets:
    one set of ratios for every seed (`ratios`), or one per seed (`by_seed`, keyed by the seed)."""

    seed: int
    test_fraction: float
    val_fraction: float
    dataset_fingerprint: str
    test: list[str]
    ratios: dict[str, RatioSplit] = field(default_factory=dict)
    by_seed: dict[str, dict[str, RatioSplit]] = field(default_factory=dict)
    left_out: list[str] = field(default_factory=list)  # duplicates of a test image, in no set

    @property
    def per_seed(self) -> bool:
        return bool(self.by_seed)

    def ratio(self, ratio: Ratio | str, seed: int | None = None) -> RatioSplit:
        """A ratio's sets for `seed` (the shared sets when the splits are not drawn per seed)."""
        label = ratio.label if isinstance(ratio, Ratio) else Ratio.parse(ratio).label
        if self.per_seed:
            if seed is None or str(seed) not in self.by_seed:
                raise BenchmarkError(f"seed {seed} has no splits (drawn for seeds {', '.join(self.by_seed)})")
            ratios = self.by_seed[str(seed)]
        else:
            ratios = self.ratios
        if label not in ratios:
            raise BenchmarkError(f"ratio {label} is not in the splits (have {', '.join(ratios)})")
        return ratios[label]

    def one_seeds_sets(self) -> dict[str, RatioSplit]:
        """The shared sets, or the first seed's: every seed's sets have the same sizes."""
        return next(iter(self.by_seed.values())) if self.per_seed else self.ratios

    def labelled_sets(self) -> list[tuple[str, RatioSplit]]:
        """Every (name, sets) pair: '79:1', or '79:1 seed 3' when drawn per seed."""
        if not self.per_seed:
            return list(self.ratios.items())
        return [(f"{label} seed {seed}", part) for seed, ratios in self.by_seed.items() for label, part in ratios.items()]

    def save(self, path: Path) -> None:
        atomic_write_text(path, json.dumps(asdict(self), indent=1))

    @classmethod
    def load(cls, path: Path) -> "Splits":
        try:
            payload = json.loads(Path(path).read_text())
            ratios = {k: RatioSplit(**v) for k, v in payload.pop("ratios").items()}
            by_seed = {seed: {k: RatioSplit(**v) for k, v in parts.items()}
                       for seed, parts in payload.pop("by_seed", {}).items()}
            return cls(**payload, ratios=ratios, by_seed=by_seed)
        except (OSError, ValueError, TypeError, KeyError, AttributeError) as error:
            raise BenchmarkError(f"{path}: not a readable splits file ({error})") from error


def check_ratio(ratio: Ratio) -> None:
    """A ratio's shares are of the study's 80 % training pool: PT + FT cannot exceed it."""
    if ratio.pt + ratio.ft > STUDY_POOL_PERCENT + 1e-9:
        raise BenchmarkError(
            f"ratio {ratio}: PT+FT = {ratio.pt + ratio.ft:g} exceeds {STUDY_POOL_PERCENT:g}, the study's "
            "training pool (ratios are shares of the data left after the test split, scaled to 80)"
        )


def make_splits(
    ids: list[str],
    ratios: list[Ratio],
    seed: int = 0,
    test_fraction: float = 0.2,
    val_fraction: float = 0.2,
    fingerprint: str = "",
    test_ids: list[str] | None = None,
    seeds: Sequence[int] = (),
    twins: Sequence[Sequence[str]] = (),
) -> Splits:
    """Draw the splits; `test_ids` uses a dataset's own test split (ARCADE's) instead of a random one.

    A ratio's shares are of the pool left by the test split, scaled to the study's 80 %: PT % ×
    pool / 80 images pre-train and FT % × pool / 80 fine-tune (with a random 20 % test split that
    is PT % and FT % of the whole dataset, as in the study). PT + FT may not exceed 80.
    `seeds`: draw the pool's order once per seed (from `seed` and that seed), not once for all.
    `twins`: groups of duplicate images (benchmark.data.duplicates), each kept on one side of every
    cut (test, fine-tuning train and validation, pre-training): the cuts move to the nearest group
    boundary, so a set may hold a group's extra copies more. With the dataset's own test split, the
    pool copies of a test image are left out of every set (`Splits.left_out`).
    """
    if len(set(ids)) != len(ids):
        raise BenchmarkError("image ids are not unique; splits need one id per image")
    rng = np.random.default_rng(seed)
    n = len(ids)
    group_of = _groups(ids, twins)
    left_out: list[str] = []
    if test_ids is not None:
        unknown = sorted(set(test_ids) - set(ids))
        if unknown:
            raise BenchmarkError(f"test ids not in the dataset: {unknown[:5]}")
        test = sorted(test_ids)
        tested = {group_of[i] for i in test}
        left_out = [i for i in ids if group_of[i] in tested and i not in set(test)]
    else:
        if not 0 < test_fraction < 1:
            raise BenchmarkError(f"--test-fraction {test_fraction} is not between 0 and 1")
        n_test = max(1, int(round(test_fraction * n)))
        order = _shuffled(rng, _units(ids, group_of))
        test = sorted(order[: _snap(_boundaries(order, group_of), n_test)])
    unused = set(test) | set(left_out)
    pool = [i for i in ids if i not in unused]
    splits = Splits(seed, len(test) / n, val_fraction, fingerprint, test, left_out=left_out)
    units = _units(pool, group_of)
    if not seeds:
        splits.ratios = _ratio_sets(_shuffled(rng, units), group_of, ratios, val_fraction, n)
    for each in dict.fromkeys(seeds):  # the test draw above is the same whatever the seeds
        order = _shuffled(np.random.default_rng([seed, each]), units)
        splits.by_seed[str(each)] = _ratio_sets(order, group_of, ratios, val_fraction, n)
    return splits


def _groups(ids: Sequence[str], twins: Sequence[Sequence[str]]) -> dict[str, str]:
    """Each id's group: the first member of its group of duplicates, or itself."""
    group_of = {i: i for i in ids}
    for members in twins:
        present = [m for m in members if m in group_of]
        for member in present:
            group_of[member] = present[0]
    return group_of


def _units(ids: Sequence[str], group_of: dict[str, str]) -> list[list[str]]:
    """The ids as units that move together: a group of duplicates, or one image; in `ids` order."""
    units: dict[str, list[str]] = {}
    for image_id in ids:
        units.setdefault(group_of[image_id], []).append(image_id)
    return list(units.values())


def _shuffled(rng: np.random.Generator, units: list[list[str]]) -> list[str]:
    """The units in a random order, flattened (with single images, exactly rng.permutation(ids))."""
    return [image_id for index in rng.permutation(len(units)) for image_id in units[index]]


def _boundaries(order: Sequence[str], group_of: dict[str, str]) -> list[int]:
    """The cut positions in `order` that split no group: 0, the start of every unit, len."""
    return [k for k in range(len(order) + 1)
            if k in (0, len(order)) or group_of[order[k]] != group_of[order[k - 1]]]


def _snap(boundaries: list[int], k: int, up: bool = True) -> int:
    """The nearest boundary at or after (or before) position k."""
    return min(b for b in boundaries if b >= k) if up else max(b for b in boundaries if b <= k)


def _ratio_sets(order: list[str], group_of: dict[str, str], ratios: Sequence[Ratio], val_fraction: float,
                n: int) -> dict[str, RatioSplit]:
    """Each ratio's sets from one order of the pool: fine-tuning a prefix, pre-training a suffix, every
    cut at a group boundary."""
    sets = {}
    cuts = _boundaries(order, group_of)
    for ratio in sorted(set(ratios), key=lambda r: -r.ft):
        check_ratio(ratio)
        n_ft = _snap(cuts, int(round(ratio.ft * len(order) / STUDY_POOL_PERCENT)))
        n_val = max(1, int(round(val_fraction * n_ft)))
        n_train = _snap(cuts, n_ft - n_val, up=False) if n_ft - n_val >= 1 else 0
        if n_train < 1 and n_ft - n_val >= 1:  # the first group fills the set: one more group validates
            n_train, n_ft = n_ft, _snap(cuts, n_ft + 1) if n_ft < len(order) else n_ft
        n_pt = min(int(round(ratio.pt * len(order) / STUDY_POOL_PERCENT)), len(order) - n_ft)
        finetune = order[:n_ft]
        if n_train < 1 or n_train >= n_ft:
            raise BenchmarkError(
                f"ratio {ratio}: the fine-tuning set has {n_ft} image(s) of {n}, too few to hold a "
                "validation part; use more data or a larger FT share"
            )
        start = _snap(cuts, len(order) - n_pt) if n_pt else len(order)
        sets[ratio.label] = RatioSplit(
            pretrain=order[start:], finetune_train=finetune[:n_train], finetune_val=finetune[n_train:]
        )
    return sets
