"""Everything that defines a profile, in one table (`PROFILE_TABLE`), and how a run's profile is
chosen (`auto` included). Adopting a calibration result is one edit of that table.

Import-light (no torch, numpy or the methods): `angiobench methods list` answers from here in about
a second. benchmark.config.run_config turns a profile into a run's defaults, benchmark.model.recipes into its
recipes; benchmark.config.options chooses the profile with torch's own answer to "is there CUDA?",
`methods list` with `gpu_visible`.
"""

from __future__ import annotations

import dataclasses
import os
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Literal

from benchmark.core.dataclass_io import update
from benchmark.core.errors import BenchmarkError
from benchmark.core.files import read_toml
from benchmark.model.unet_config import UNetConfig

ProfileName = Literal["tiny", "small", "paper"]
#: "fair": equal pre-training budgets and one lr rule (the default); "study": the published recipes.
ProtocolName = Literal["fair", "study"]
#: The arithmetic a job trains in (auto: bf16 on CUDA and on CPUs with bf16 units) and the devices a
#: prediction can run on: run options every layer names, defined once.
PrecisionName = Literal["auto", "bf16", "fp32"]
PRECISIONS: tuple[str, ...] = typing.get_args(PrecisionName)
DeviceName = Literal["auto", "cpu", "cuda"]
DEVICES: tuple[str, ...] = typing.get_args(DeviceName)


@dataclass(frozen=True)
class FinetunePlan:
    """One protocol's fine-tuning at a profile: the values it sets of benchmark.model.recipes.FinetuneRecipe
    (the others keep that recipe's defaults). `steps` > 0: a budget in steps, validated every
    `eval_every` steps, the lr chosen from `lr_grid` on the validation part (benchmark.train.selection)."""

    lr: float
    batch_size: int
    steps: int | None = None
    epochs: int | None = None
    eval_every: int | None = None
    min_samples_per_epoch: int | None = None
    lr_grid: tuple[float, ...] | None = None

    def recipe_values(self) -> dict[str, Any]:
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}


@dataclass(frozen=True)
class Profile:
    """A profile: the network and images, the grid, and both protocols' budgets."""

    unet: UNetConfig
    image_size: int  # the side of the pre-processed images
    seeds: tuple[int, ...]
    ratios: tuple[str, ...] | None  # PT:FT labels; None: the study's five
    synthetic_count: int  # the built-in data's size at this profile
    synthetic_size: int
    #: The fair protocol's shared pre-training budget: batch, steps, and MAE's rate (the reference of
    #: the lr rule, benchmark.model.recipes); None: the rule's own rate (the paper's).
    pretrain_batch: int
    pretrain_steps: int
    pretrain_reference_lr: float | None
    finetune_fair: FinetunePlan
    finetune_study: FinetunePlan

    def finetune(self, protocol: str) -> FinetunePlan:
        return self.finetune_fair if protocol == "fair" else self.finetune_study


#: Every profile, defined once.
#: - tiny: a smoke test on a 2-core CPU (narrow UNet, 64-px images, 60 pre-training steps at MAE's
#:   rate 1e-3; the default run's 10-minute budget); one seed, the study's ratios.
#: - small: tiny's sizes with the budget the calibration study found to detect the positive control
#:   on ARCADE (200 pre-training steps at 1e-2; fine-tuning 200 steps over the grid 3e-3/1e-2, kept
#:   by the calibration apart from the answer: docs/calibration.md); 79:1, where transfer must show,
#:   and 70:10, where the baseline's label curve must rise above the MDD; ten seeds, the most whose
#:   ARCADE run stays within an hour on a 2-core CPU (docs/results-arcade.md).
#: - paper: the study's sizes (UNet base 64, 256 px), 900 pre-training steps at batch 256 (its 300
#:   epochs of a 790-image set), fine-tuning lr 1e-3 at batch 16 for 128 epochs (study) or 2,000
#:   steps over 1e-3/1e-4 (fair); three seeds.
#: The study protocol's fine-tuning lengthens tiny's 15 epochs at small by the same 200/60 as its
#: pre-training (50 epochs). The fair lr grids, one for every method: paper 1e-3 and 1e-4, the two rates
#: the study's own cross-validation chose (Genesis 1e-4, the others 1e-3); tiny and small 3e-3 and 1e-2
#: (at small, neither above its pre-training reference rate 1e-2).
PROFILE_TABLE: dict[str, Profile] = {
    "tiny": Profile(
        unet=UNetConfig(base=8), image_size=64, seeds=(0,), ratios=None, synthetic_count=200, synthetic_size=128,
        pretrain_batch=16, pretrain_steps=60, pretrain_reference_lr=1e-3,
        finetune_fair=FinetunePlan(lr=1e-2, batch_size=8, steps=60, eval_every=10, lr_grid=(3e-3, 1e-2)),
        finetune_study=FinetunePlan(lr=1e-2, batch_size=8, epochs=15, min_samples_per_epoch=32)),
    "small": Profile(
        unet=UNetConfig(base=8), image_size=64, seeds=tuple(range(10)), ratios=("70:10", "79:1"),
        synthetic_count=200, synthetic_size=128, pretrain_batch=16, pretrain_steps=200, pretrain_reference_lr=1e-2,
        finetune_fair=FinetunePlan(lr=1e-2, batch_size=8, steps=200, eval_every=10, lr_grid=(3e-3, 1e-2)),
        finetune_study=FinetunePlan(lr=1e-2, batch_size=8, epochs=50, min_samples_per_epoch=32)),
    "paper": Profile(
        unet=UNetConfig(base=64), image_size=256, seeds=(0, 1, 2), ratios=None, synthetic_count=1000,
        synthetic_size=512, pretrain_batch=256, pretrain_steps=900, pretrain_reference_lr=None,
        finetune_fair=FinetunePlan(lr=1e-3, batch_size=16, steps=2000, eval_every=100, lr_grid=(1e-3, 1e-4)),
        finetune_study=FinetunePlan(lr=1e-3, batch_size=16, epochs=128)),
}
PROFILES: tuple[str, ...] = tuple(PROFILE_TABLE)


def resolve_profile(profile: str, cuda_available: bool) -> ProfileName:
    """`auto` picks `paper` on a CUDA machine and `tiny` elsewhere."""
    if profile == "auto":
        return "paper" if cuda_available else "tiny"
    if profile not in PROFILES:
        raise BenchmarkError(f"--profile {profile!r} is not one of auto, {', '.join(PROFILES)}")
    return profile  # type: ignore[return-value]


def choose_profile(option: str, table: dict[str, Any], cuda_available: Callable[[], bool],
                   where: str = "config") -> tuple[ProfileName, str]:
    """A run's profile: `--profile` (`option`) unless it is `auto` and the file's `table` names one;
    `auto` asks `cuda_available` (only then). With the note saying what `auto` chose."""
    if option == "auto" and "profile" in table:
        if table["profile"] not in PROFILES:
            raise BenchmarkError(f"{where}: profile {table['profile']!r} is not one of {', '.join(PROFILES)}")
        return table["profile"], ""
    cuda = option == "auto" and cuda_available()
    chosen = resolve_profile(option, cuda)
    note = f"--profile auto: {'CUDA found' if cuda else 'no CUDA'}, using the {chosen} profile" if option == "auto" else ""
    return chosen, note


def gpu_visible() -> bool:
    """Whether this process sees an NVIDIA GPU, without importing torch (seconds): one the driver
    lists, not hidden by CUDA_VISIBLE_DEVICES. What torch.cuda.is_available() says on a machine with
    a working CUDA torch; a CPU-only torch build on a GPU machine would still find none."""
    hidden = os.environ.get("CUDA_VISIBLE_DEVICES")
    if hidden is not None and hidden.strip() in ("", "-1"):
        return False
    return any(Path("/proc/driver/nvidia/gpus").glob("*")) or any(Path("/dev").glob("nvidia[0-9]*"))


def _chosen(config_path: Path | None, option: str) -> tuple[ProfileName, dict[str, Any], str]:
    """The profile a run of `--config` and `--profile` would use, chosen as benchmark.config.options
    chooses it but with `gpu_visible` for `auto`; with the file's table and its name for errors."""
    table = read_toml(config_path) if config_path else {}
    where = str(config_path) if config_path else "options"
    return choose_profile(option, table, gpu_visible, where)[0], table, where


def profile_unet(config_path: Path | None, option: str = "auto") -> tuple[ProfileName, UNetConfig]:
    """The profile and UNet a run of `--config` and `--profile` would train (the file's `[unet]` on
    top of the profile's)."""
    profile, table, where = _chosen(config_path, option)
    return profile, update(PROFILE_TABLE[profile].unet, table.get("unet", {}), f"{where}: unet")


def profile_image_size(config_path: Path | None, option: str = "auto") -> int:
    """The image side a run of `--config` and `--profile` would train on (the file's
    `[preprocess] size` over the profile's)."""
    profile, table, _ = _chosen(config_path, option)
    size = table.get("preprocess", {}).get("size", PROFILE_TABLE[profile].image_size)
    if not isinstance(size, int) or size < 1:
        raise BenchmarkError(f"{config_path}: preprocess size {size!r}: expected a positive integer")
    return size
