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


@cache
def _cpuinfo() -> tuple[str, frozenset[str]]:
    """(model name, feature flags) of the first CPU in /proc/cpuinfo; empty where there is none."""
    path = Path("/proc/cpuinfo")
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return "", frozenset()
    fields = {}
    for line in lines:
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    return fields.get("model name", ""), frozenset(fields.get("flags", "").split())


def native_cpu_bf16() -> bool:
    """Whether this CPU has bf16 matrix units (NATIVE_BF16_FLAGS)."""
    return bool(NATIVE_BF16_FLAGS & _cpuinfo()[1])


def device_name(device: torch.device) -> str:
    """The GPU's name, or the CPU's model and torch's thread count."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{_cpuinfo()[0] or platform.processor() or platform.machine()} CPU, {torch.get_num_threads()} threads"
