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

from benchmark.model.unet_config import UNetConfig

__all__ = ["Decoder", "Encoder", "UNet", "UNetConfig", "UpBlock", "count_parameters", "double_conv"]


def double_conv(in_ch: int, out_ch: int) -> nn.Sequential:
    """Conv-BN-ReLU twice; bias-free convs because BN follows."""
    return nn.Sequential(
        nn.Conv2d(in_ch, out_ch, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_ch),
        nn.ReLU(inplace=True),
        nn.Conv2d(out_ch, out_ch, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_ch),
        nn.ReLU(inplace=True),
    )


class Encoder(nn.Module):
    """Contracting path; returns the feature map of every scale, finest first, bottleneck last."""

    def __init__(self, cfg: UNetConfig) -> None:
        super().__init__()
        widths = cfg.widths()
        self.stem = double_conv(cfg.in_channels, widths[0])
        self.downs = nn.ModuleList(
            nn.Sequential(nn.MaxPool2d(2), double_conv(widths[i], widths[i + 1]))
            for i in range(cfg.depth)
        )
        self.widths = widths

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

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.up = nn.ConvTranspose2d(in_ch, in_ch // 2, kernel_size=2, stride=2)
        self.conv = double_conv(in_ch // 2 + out_ch, out_ch)

    def forward(self, x: Tensor, skip: Tensor) -> Tensor:
        return self.conv(torch.cat([skip, self.up(x)], dim=1))


class Decoder(nn.Module):
    """Expanding path; maps the encoder's feature list to a base-width map at input resolution."""

    def __init__(self, cfg: UNetConfig) -> None:
        super().__init__()
        widths = cfg.widths()
        self.ups = nn.ModuleList(
            UpBlock(widths[i + 1], widths[i]) for i in reversed(range(cfg.depth))
        )
        self.out_channels = widths[0]

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
        self.head = nn.Conv2d(self.cfg.base, self.cfg.classes, kernel_size=1)

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
