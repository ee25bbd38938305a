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

from benchmark.errors import BenchmarkError
from benchmark.files import atomic_write_text

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
) -> Splits:
    """Draw the splits; `test_ids` uses a dataset's own test split (ARCADE's) instead of a random one.

    A ratio's shares are of the pool left by the test split, scaled to the study's 80 %: PT % ×
    pool / 80 images pre-train and FT % × pool / 80 fine-tune (with a random 20 % test split that
    is PT % and FT % of the whole dataset, as in the study). PT + FT may not exceed 80.
    `seeds`: draw the pool's order once per seed (from `seed` and that seed), not once for all.
    """
    if len(set(ids)) != len(ids):
        raise BenchmarkError("image ids are not unique; splits need one id per image")
    rng = np.random.default_rng(seed)
    n = len(ids)
    if test_ids is not None:
        unknown = sorted(set(test_ids) - set(ids))
        if unknown:
            raise BenchmarkError(f"test ids not in the dataset: {unknown[:5]}")
        test = sorted(test_ids)
    else:
        if not 0 < test_fraction < 1:
            raise BenchmarkError(f"--test-fraction {test_fraction} is not between 0 and 1")
        n_test = max(1, int(round(test_fraction * n)))
        test = sorted(rng.permutation(ids)[:n_test].tolist())
    test_set = set(test)
    pool = [i for i in ids if i not in test_set]
    splits = Splits(seed, len(test) / n, val_fraction, fingerprint, test)
    if not seeds:
        splits.ratios = _ratio_sets(rng.permutation(pool).tolist(), ratios, val_fraction, n)
    for each in dict.fromkeys(seeds):  # the test draw above is the same whatever the seeds
        order = np.random.default_rng([seed, each]).permutation(pool).tolist()
        splits.by_seed[str(each)] = _ratio_sets(order, ratios, val_fraction, n)
    return splits


def _ratio_sets(order: list[str], ratios: Sequence[Ratio], val_fraction: float, n: int) -> dict[str, RatioSplit]:
    """Each ratio's sets from one order of the pool: fine-tuning a prefix, pre-training a suffix."""
    sets = {}
    for ratio in sorted(set(ratios), key=lambda r: -r.ft):
        check_ratio(ratio)
        n_ft = int(round(ratio.ft * len(order) / STUDY_POOL_PERCENT))
        n_pt = min(int(round(ratio.pt * len(order) / STUDY_POOL_PERCENT)), len(order) - n_ft)
        finetune = order[:n_ft]
        n_val = max(1, int(round(val_fraction * n_ft)))
        if n_ft - n_val < 1:
            raise BenchmarkError(
                f"ratio {ratio}: the fine-tuning set has {n_ft} image(s) of {n}, too few to hold a "
                "validation part; use more data or a larger FT share"
            )
        pretrain = order[len(order) - n_pt :] if n_pt else []
        sets[ratio.label] = RatioSplit(
            pretrain=pretrain, finetune_train=finetune[: n_ft - n_val], finetune_val=finetune[n_ft - n_val :]
        )
    return sets
