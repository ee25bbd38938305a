"""Where and how training steps run: device, precision, memory format, compile."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from benchmark.train.hardware import native_cpu_bf16


@dataclass(frozen=True)
class DeviceOptions:
    """Where and how steps run; the defaults follow the device: bf16 autocast and channels_last on
    CUDA and on CPUs with bf16 matrix units (benchmark.train.hardware), where they trained the UNet 1.4×
    (base 8, 64²) to 4.5× (base 32, 256²) as fast as fp32; fp32 on other CPUs, where bf16 would be
    emulated."""

    device: str = "cpu"
    bf16: bool | None = None  # None: on for CUDA and for CPUs with native bf16
    channels_last: bool | None = None  # None: as bf16
    log_every: int = 10
    compile: bool = False  # torch.compile the method's training step / the UNet's forward in training

    @property
    def torch_device(self) -> torch.device:
        return torch.device(self.device)

    @property
    def use_bf16(self) -> bool:
        if self.bf16 is not None:
            return self.bf16
        return self.torch_device.type == "cuda" or native_cpu_bf16()

    @property
    def use_channels_last(self) -> bool:
        return self.channels_last if self.channels_last is not None else self.use_bf16

    @property
    def precision(self) -> str:
        """"bf16" (autocast) or "fp32": what a result's provenance records."""
        return "bf16" if self.use_bf16 else "fp32"

    def autocast(self):
        return torch.autocast(self.torch_device.type, dtype=torch.bfloat16, enabled=self.use_bf16)

    def memory_format(self) -> torch.memory_format:
        return torch.channels_last if self.use_channels_last else torch.contiguous_format
