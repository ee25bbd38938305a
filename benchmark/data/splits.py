"""Train/test splits shared by every method and every re-run, written to and read from JSON.

A fixed test split is drawn once; the rest of the data (the pool) is shuffled once, fine-tuning
sets are prefixes of that order (so the 1 % set ⊂ the 5 % set ⊂ … and ratios differ only in label
count) and pre-training sets are suffixes of it (disjoint from the fine-tuning set of their ratio).
"""

from __future__ import annotations

import json
import re
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
    """Image ids of the test set and of each ratio's pre-training / fine-tuning / validation sets."""

    seed: int
    test_fraction: float
    val_fraction: float
    dataset_fingerprint: str
    test: list[str]
    ratios: dict[str, RatioSplit] = field(default_factory=dict)

    def ratio(self, ratio: Ratio | str) -> RatioSplit:
        label = ratio.label if isinstance(ratio, Ratio) else Ratio.parse(ratio).label
        if label not in self.ratios:
            raise BenchmarkError(f"ratio {label} is not in the splits (have {', '.join(self.ratios)})")
        return self.ratios[label]

    def save(self, path: Path) -> None:
        atomic_write_text(path, json.dumps(asdict(self), indent=1))

    @classmethod
    def load(cls, path: Path) -> "Splits":
        try:
            payload = json.loads(Path(path).read_text())
            ratios = {k: RatioSplit(**v) for k, v in payload.pop("ratios").items()}
            return cls(**payload, ratios=ratios)
        except (OSError, ValueError, TypeError, KeyError) as error:
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
) -> Splits:
    """Draw the splits; `test_ids` uses a dataset's own test split (ARCADE's) instead of a random one.

    A ratio's shares are of the pool left by the test split, scaled to the study's 80 %: PT % ×
    pool / 80 images pre-train and FT % × pool / 80 fine-tune (with a random 20 % test split that
    is PT % and FT % of the whole dataset, as in the study). PT + FT may not exceed 80.
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
    order = rng.permutation(pool).tolist()
    splits = Splits(seed, len(test) / n, val_fraction, fingerprint, test)
    for ratio in sorted(set(ratios), key=lambda r: -r.ft):
        check_ratio(ratio)
        n_ft = int(round(ratio.ft * len(pool) / STUDY_POOL_PERCENT))
        n_pt = min(int(round(ratio.pt * len(pool) / STUDY_POOL_PERCENT)), len(order) - n_ft)
        finetune = order[:n_ft]
        n_val = max(1, int(round(val_fraction * n_ft)))
        if n_ft - n_val < 1:
            raise BenchmarkError(
                f"ratio {ratio}: the fine-tuning set has {n_ft} image(s) of {n}, too few to hold a "
                "validation part; use more data or a larger FT share"
            )
        pretrain = order[len(order) - n_pt :] if n_pt else []
        splits.ratios[ratio.label] = RatioSplit(
            pretrain=pretrain, finetune_train=finetune[: n_ft - n_val], finetune_val=finetune[n_ft - n_val :]
        )
    return splits
