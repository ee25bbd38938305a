"""Whether a pre-training's pretext task learned, and how much of the transferred encoder fine-tuning
kept: the two checks that separate "this method does not help" from "this method was not tested".

Pretext health reads a loss curve whose entries carry the method's chance level beside its loss
(`training_step`'s "chance": the loss of a network that learned nothing — MoCo's log(K+1), a masked
method's loss of the masked pixels' mean, Models Genesis' loss of returning the corrupted input).
A loss that rises can still be learning (MoCo's, while its queue fills with real keys), so the test
is against chance, not against the start.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

from torch import Tensor

#: A pretext learned when its final loss is at least this share below its chance level: well clear of
#: the few-percent wobble of a batch-averaged loss at chance. On ARCADE at the small profile every
#: masked method and Models Genesis ends 15–80 % below chance, MoCo 5–11 %
#: per job (means per method: docs/measurements/2026-12-07-arcade-small-fair/health.csv).
LEARNED_MARGIN = 0.10


@dataclass(frozen=True)
class PretextHealth:
    """First and last logged loss, the chance level at the end, and the verdict (None without a
    chance level: a method that does not say what learning nothing scores)."""

    loss_start: float | None
    loss_end: float | None
    chance_loss: float | None
    learned: bool | None


def pretext_learned(loss_end: float | None, chance: float | None) -> bool | None:
    """True when the final loss is LEARNED_MARGIN or more below chance; None when either is unknown."""
    if loss_end is None or chance is None or not math.isfinite(chance):
        return None
    return loss_end <= (1.0 - LEARNED_MARGIN) * chance


def pretext_health(curve: Sequence[Mapping[str, float]]) -> PretextHealth:
    """The health of a pre-training from its logged curve (entries with "loss" and maybe "chance")."""
    if not curve:
        return PretextHealth(None, None, None, None)
    chance = curve[-1].get("chance")
    chance = None if chance is None or not math.isfinite(chance) else float(chance)
    start, end = float(curve[0]["loss"]), float(curve[-1]["loss"])
    return PretextHealth(start, end, chance, pretext_learned(end, chance))


def relative_shift(before: Mapping[str, Tensor], after: Mapping[str, Tensor], names: Sequence[str]) -> float:
    """‖after − before‖ / ‖before‖ over the named tensors taken together (L2 of all their entries):
    0 when fine-tuning left the transferred weights where they were, ~1 or more when it moved them
    as far as they are from zero."""
    moved = sum(float((after[n].detach().double().cpu() - before[n].detach().double().cpu()).pow(2).sum())
                for n in names)
    size = sum(float(before[n].detach().double().cpu().pow(2).sum()) for n in names)
    return math.sqrt(moved / size) if size > 0 else math.nan
