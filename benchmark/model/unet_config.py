"""The UNet's sizes, and its parameter count worked out from them: import-light (no torch), so
`angiobench methods list` answers in about a second. benchmark.model.unet builds the network itself;
tests/test_methods_list.py checks the count against torch's for several sizes."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class UNetConfig:
    """Width and I/O of the UNet; tests use base 4–16, the study base 64."""

    base: int = 64
    in_channels: int = 1
    classes: int = 2
    depth: int = 4

    def widths(self) -> list[int]:
        """Channels at each encoder scale, stem first: base, 2·base, … 2^depth·base."""
        return [self.base * 2**i for i in range(self.depth + 1)]


def _double_conv(in_ch: int, out_ch: int) -> int:
    """Two bias-free 3×3 convs, each followed by BatchNorm (a weight and a bias per channel)."""
    return 9 * in_ch * out_ch + 9 * out_ch * out_ch + 2 * 2 * out_ch


def _up_block(in_ch: int, out_ch: int) -> int:
    """A 2×2 transposed conv to half the channels (with bias), then a double conv of it and the skip."""
    half = in_ch // 2
    return 4 * in_ch * half + half + _double_conv(half + out_ch, out_ch)


def unet_parameters(config: UNetConfig) -> int:
    """Parameters of benchmark.model.unet.UNet(config): stem and down blocks, up blocks, 1×1 classifier."""
    widths = config.widths()
    encoder = _double_conv(config.in_channels, widths[0]) + sum(
        _double_conv(widths[i], widths[i + 1]) for i in range(config.depth))
    decoder = sum(_up_block(widths[i + 1], widths[i]) for i in range(config.depth))
    return encoder + decoder + widths[0] * config.classes + config.classes
