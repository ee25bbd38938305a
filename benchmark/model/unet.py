"""The study's UNet, with encoder and decoder as separate modules so a method can transfer either.

Layout at base width 64 (the study's, 31.04 M parameters with 1 input channel and 2 classes):
stem 1→64, four down blocks (max-pool + double conv) to 128/256/512/1024, four up blocks
(transposed conv ×2 + skip concatenation + double conv) back to 64, and a 1×1 classifier.
Every layer is a plain nn.Module in a known order, so SparK can walk the encoder layer by layer.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

from benchmark.model.unet_config import Conv, Layer, Norm, Relu, UNetConfig, UpLayers

__all__ = ["Decoder", "Encoder", "UNet", "UNetConfig", "UpBlock", "count_parameters"]


def build(layer: Layer) -> nn.Module:
    """The torch module of one layer that benchmark.model.unet_config describes."""
    if isinstance(layer, Conv):
        kind = nn.ConvTranspose2d if layer.transposed else nn.Conv2d
        extra = {"stride": layer.kernel} if layer.transposed else {"padding": layer.kernel // 2}
        return kind(layer.in_ch, layer.out_ch, layer.kernel, bias=layer.bias, **extra)
    if isinstance(layer, Norm):
        return nn.BatchNorm2d(layer.channels)
    if isinstance(layer, Relu):
        return nn.ReLU(inplace=True)
    return nn.MaxPool2d(2)


def sequence(layers: tuple[Layer, ...]) -> nn.Sequential:
    return nn.Sequential(*map(build, layers))


class Encoder(nn.Module):
    """Contracting path; returns the feature map of every scale, finest first, bottleneck last."""

    def __init__(self, cfg: UNetConfig) -> None:
        super().__init__()
        self.stem = sequence(cfg.stem())
        self.downs = nn.ModuleList(nn.Sequential(build(pool), sequence(conv)) for pool, *conv in cfg.downs())
        self.widths = cfg.widths()

    def stages(self) -> list[nn.Sequential]:
        """The encoder as an ordered list of stages, one per output scale."""
        return [self.stem, *self.downs]

    def forward(self, x: Tensor) -> list[Tensor]:
        features = [self.stem(x)]
        for down in self.downs:
            features.append(down(features[-1]))
        return features


class UpBlock(nn.Module):
    """Transposed-conv upsampling, concatenation with the skip, double conv."""

    def __init__(self, layers: UpLayers) -> None:
        super().__init__()
        self.up = build(layers.up)
        self.conv = sequence(layers.conv)

    def forward(self, x: Tensor, skip: Tensor) -> Tensor:
        return self.conv(torch.cat([skip, self.up(x)], dim=1))


class Decoder(nn.Module):
    """Expanding path; maps the encoder's feature list to a base-width map at input resolution."""

    def __init__(self, cfg: UNetConfig) -> None:
        super().__init__()
        self.ups = nn.ModuleList(UpBlock(layers) for layers in cfg.ups())
        self.out_channels = cfg.base

    def forward(self, features: list[Tensor]) -> Tensor:
        x = features[-1]
        for up, skip in zip(self.ups, reversed(features[:-1])):
            x = up(x, skip)
        return x


class UNet(nn.Module):
    """encoder → decoder → 1×1 classifier; input sides must be multiples of 2^depth."""

    def __init__(self, cfg: UNetConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg or UNetConfig()
        self.encoder = Encoder(self.cfg)
        self.decoder = Decoder(self.cfg)
        self.head = build(self.cfg.head())

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.decoder(self.encoder(x)))

    def features(self, x: Tensor) -> Tensor:
        """Decoder output before the classifier: what reconstruction heads sit on."""
        return self.decoder(self.encoder(x))


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


#: What fine-tuning takes from pre-trained weights: nothing, the encoder, or encoder and decoder.
Transfer = Literal["none", "encoder", "encoder+decoder"]
#: The UNet's sub-modules each kind of transfer carries over; the 1×1 classifier never is (a pretext
#: head's output means something else), so every method fine-tunes a freshly initialised head.
TRANSFERRED_PARTS: dict[str, tuple[str, ...]] = {"none": (), "encoder": ("encoder",),
                                                 "encoder+decoder": ("encoder", "decoder")}


def load_parts(unet: UNet, state: dict[str, Tensor], transfer: Transfer) -> None:
    """Copy the parts `transfer` names from a UNet state dict into `unet`, each strictly; the rest of
    `unet` keeps its own initialisation, so two starts of one cell differ only in what they transfer."""
    for part in TRANSFERRED_PARTS[transfer]:
        prefix = f"{part}."
        getattr(unet, part).load_state_dict(
            {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}, strict=True
        )
