"""The UNet's sizes and its layers as plain values: import-light (no torch), so `angiobench methods
list` counts a UNet's parameters in about a second. benchmark.model.unet builds the network from the
same layers, so its shape and its count are written once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union


@dataclass(frozen=True)
class Conv:
    """A 2-D convolution (transposed: an upsampling one, stride = kernel)."""

    in_ch: int
    out_ch: int
    kernel: int
    bias: bool
    transposed: bool = False

    @property
    def parameters(self) -> int:
        return self.kernel * self.kernel * self.in_ch * self.out_ch + (self.out_ch if self.bias else 0)


@dataclass(frozen=True)
class Norm:
    """Batch normalisation: a weight and a bias per channel."""

    channels: int

    @property
    def parameters(self) -> int:
        return 2 * self.channels


@dataclass(frozen=True)
class Relu:
    parameters: int = 0


@dataclass(frozen=True)
class Pool:
    """2×2 max-pooling."""

    parameters: int = 0


Layer = Union[Conv, Norm, Relu, Pool]


def double_conv(in_ch: int, out_ch: int) -> tuple[Layer, ...]:
    """Conv-BN-ReLU twice; bias-free convs because BN follows."""
    return (Conv(in_ch, out_ch, 3, bias=False), Norm(out_ch), Relu(),
            Conv(out_ch, out_ch, 3, bias=False), Norm(out_ch), Relu())


@dataclass(frozen=True)
class UpLayers:
    """An up block: a 2×2 transposed conv to half the channels, then a double conv of it and the skip."""

    up: Conv
    conv: tuple[Layer, ...]

    @classmethod
    def between(cls, in_ch: int, out_ch: int) -> UpLayers:
        return cls(Conv(in_ch, in_ch // 2, 2, bias=True, transposed=True), double_conv(in_ch // 2 + out_ch, out_ch))


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

    def stem(self) -> tuple[Layer, ...]:
        return double_conv(self.in_channels, self.base)

    def downs(self) -> list[tuple[Layer, ...]]:
        """Each down block: max-pool, then a double conv to the next scale's width."""
        widths = self.widths()
        return [(Pool(), *double_conv(widths[i], widths[i + 1])) for i in range(self.depth)]

    def ups(self) -> list[UpLayers]:
        """The up blocks, coarsest first: back to each finer scale's width."""
        widths = self.widths()
        return [UpLayers.between(widths[i + 1], widths[i]) for i in reversed(range(self.depth))]

    def head(self) -> Conv:
        """The 1×1 classifier."""
        return Conv(self.base, self.classes, 1, bias=True)


def unet_parameters(config: UNetConfig) -> int:
    """Parameters of benchmark.model.unet.UNet(config), summed over the layers it is built from."""
    layers = [*config.stem(), *(layer for down in config.downs() for layer in down),
              *(layer for up in config.ups() for layer in (up.up, *up.conv)), config.head()]
    return sum(layer.parameters for layer in layers)
