"""The profiles' names, how a run's profile is chosen (`auto` included), and each profile's UNet.

Import-light (no torch, numpy or the methods): `angiobench methods list` answers from here in about
a second. benchmark.config builds the rest of a profile's defaults; benchmark.settings chooses the
profile with torch's own answer to "is there CUDA?", `methods list` with `gpu_visible`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Literal

from benchmark.dataclass_io import update
from benchmark.errors import BenchmarkError
from benchmark.files import read_toml
from benchmark.unet_config import UNetConfig

ProfileName = Literal["tiny", "small", "paper"]
PROFILES = ("tiny", "small", "paper")
#: The UNet of each profile: tiny and small share their sizes (small pre-trains longer), paper is the study's.
PROFILE_UNETS: dict[str, UNetConfig] = {"tiny": UNetConfig(base=8), "small": UNetConfig(base=8),
                                        "paper": UNetConfig(base=64)}
#: The side of the pre-processed images each profile trains on: tiny and small at 64 px, the study's 256.
PROFILE_IMAGE_SIZES: dict[str, int] = {"tiny": 64, "small": 64, "paper": 256}


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
    """The profile a run of `--config` and `--profile` would use, chosen as benchmark.settings
    chooses it but with `gpu_visible` for `auto`; with the file's table and its name for errors."""
    table = read_toml(config_path) if config_path else {}
    where = str(config_path) if config_path else "options"
    return choose_profile(option, table, gpu_visible, where)[0], table, where


def profile_unet(config_path: Path | None, option: str = "auto") -> tuple[ProfileName, UNetConfig]:
    """The profile and UNet a run of `--config` and `--profile` would train (the file's `[unet]` on
    top of the profile's)."""
    profile, table, where = _chosen(config_path, option)
    return profile, update(PROFILE_UNETS[profile], table.get("unet", {}), f"{where}: unet")


def profile_image_size(config_path: Path | None, option: str = "auto") -> int:
    """The image side a run of `--config` and `--profile` would train on (the file's
    `[preprocess] size` over the profile's)."""
    profile, table, _ = _chosen(config_path, option)
    size = table.get("preprocess", {}).get("size", PROFILE_IMAGE_SIZES[profile])
    if not isinstance(size, int) or size < 1:
        raise BenchmarkError(f"{config_path}: preprocess size {size!r}: expected a positive integer")
    return size
