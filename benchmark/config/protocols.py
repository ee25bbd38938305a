"""The two protocols' pre-training recipes at a profile (benchmark.model.recipes explains the rules; the
profiles' budgets are entries of benchmark.config.profiles.PROFILE_TABLE).

- fair: every method the profile's shared budget (batch, steps, warm-up, cosine, AdamW) at its paper
  rate under one lr rule (`FAIR_BUDGETS`).
- study: every method's published recipe, shrunk at the CPU profiles by one factor for all.
"""

from __future__ import annotations

import dataclasses

from benchmark.config.profiles import PROFILE_TABLE, Profile, ProfileName, ProtocolName
from benchmark.model.recipes import (REFERENCE_BASE_LR, STUDY_EPOCHS, TINY_PRETRAIN_RECIPE, SharedBudget, PretrainRecipe,
                               budget_recipe, scaled_lr)


def profile_budget(profile: Profile) -> SharedBudget:
    """A profile's shared budget: its batch and steps, and the factor that gives MAE its reference rate."""
    factor = (1.0 if profile.pretrain_reference_lr is None
              else profile.pretrain_reference_lr / scaled_lr(REFERENCE_BASE_LR, profile.pretrain_batch))
    return SharedBudget(batch_size=profile.pretrain_batch, steps=profile.pretrain_steps, lr_factor=factor)


#: Each profile's budget (benchmark.config.profiles.PROFILE_TABLE: paper, the study's 300 epochs of a 790-image
#: set at batch 256; tiny, 60 steps at 1e-3; small, 200 steps at 1e-2).
FAIR_BUDGETS: dict[str, SharedBudget] = {name: profile_budget(p) for name, p in PROFILE_TABLE.items()}

#: Tiny-profile shrink of a published recipe under "study": batch ÷ 16, epochs × 6/300.
STUDY_TINY_BATCH_DIVISOR, STUDY_TINY_EPOCH_SHARE = 16, TINY_PRETRAIN_RECIPE.epochs / STUDY_EPOCHS


def fair_pretrain_recipe(profile: str, base_lr: float, crop_scale: tuple[float, float] | None) -> PretrainRecipe:
    """The fair protocol's recipe for a method with this paper base rate and official crop."""
    return budget_recipe(FAIR_BUDGETS[profile], base_lr, crop_scale)


def study_epoch_share(profile: str) -> float:
    """The share of a published recipe's epochs the study protocol trains at a CPU-sized profile: the
    tiny one's 6/300, lengthened as that profile's fair budget is (small: 200 / 60 steps)."""
    return STUDY_TINY_EPOCH_SHARE * FAIR_BUDGETS[profile].steps / FAIR_BUDGETS["tiny"].steps


def study_pretrain_recipe(profile: str, paper: PretrainRecipe) -> PretrainRecipe:
    """The study protocol's recipe: the published one, shrunk at the CPU-sized profiles (see above)."""
    if profile == "paper":
        return paper
    share = study_epoch_share(profile)
    return dataclasses.replace(
        paper,
        batch_size=max(2, paper.batch_size // STUDY_TINY_BATCH_DIVISOR),
        epochs=max(1, round(paper.epochs * share)),
        warmup_epochs=round(paper.warmup_epochs * share),
    )


def protocol_recipe(cls: type, profile: ProfileName, protocol: ProtocolName) -> PretrainRecipe:
    """A pre-training method's recipe under the protocol (benchmark.model.recipes explains both)."""
    if protocol == "fair":
        return fair_pretrain_recipe(profile, cls.base_lr, cls.official_crop)
    return study_pretrain_recipe(profile, cls.paper_recipe())
