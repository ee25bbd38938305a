"""What the machine is and what it computes fast: device names for provenance and speed reports, and
whether a CPU has native bf16, which decides the precision of CPU training."""

from __future__ import annotations

import platform
from functools import cache
from pathlib import Path

import torch

#: CPU feature flags (as /proc/cpuinfo spells them) of bf16 matrix units: Intel AMX and AVX512-BF16
#: (Sapphire Rapids and later, AMD Zen 4 and later). oneDNN runs bf16 convolutions and matmuls on
#: them natively; without them bf16 is emulated and slower than fp32.
NATIVE_BF16_FLAGS = frozenset({"amx_bf16", "avx512_bf16"})


def parse_cpuinfo(text: str) -> tuple[str, frozenset[str]]:
    """(model name, feature flags) of the first processor listed in a /proc/cpuinfo text."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    return fields.get("model name", ""), frozenset(fields.get("flags", "").split())


@cache
def _cpuinfo() -> tuple[str, frozenset[str]]:
    """This machine's parse_cpuinfo; empty where there is no /proc/cpuinfo (macOS, Windows)."""
    try:
        return parse_cpuinfo(Path("/proc/cpuinfo").read_text())
    except OSError:
        return "", frozenset()


def cpu_model() -> str:
    """This machine's CPU model as /proc/cpuinfo names it ('' where it cannot tell)."""
    return _cpuinfo()[0]


def has_native_bf16(flags: frozenset[str]) -> bool:
    return bool(NATIVE_BF16_FLAGS & flags)


def native_cpu_bf16() -> bool:
    """Whether this CPU has bf16 matrix units (NATIVE_BF16_FLAGS)."""
    return has_native_bf16(_cpuinfo()[1])


def device_name(device: torch.device) -> str:
    """The GPU's name, or the CPU's model and torch's thread count."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{_cpuinfo()[0] or platform.processor() or platform.machine()} CPU, {torch.get_num_threads()} threads"
