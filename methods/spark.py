"""SparK on a UNet (Tian et al., ICLR 2023, "Designing BERT for convolutional networks: sparse and
hierarchical masked modeling").

The encoder sees only the visible patches: the input's masked patches are zeroed, and the
encoder is run layer by layer with masked positions re-zeroed after every convolution, pooling and
(sparse) batch norm, whose statistics come from visible positions only, so a masked pixel never
influences a feature. Before the dense UNet decoder, each scale is "densified": a sparse batch norm,
a learned mask token in the holes, and a projection. The target is the image normalised per patch,
scored on masked patches only. Encoder and decoder transfer; both are the plain UNet modules.

Mask geometry: SparK masks on its encoder's deepest feature map, one cell per pixel there (ResNet's
stride 32 at 224 px: a 7×7 grid), because a sparse convolution needs every position of every scale to
be wholly visible or wholly masked, and finer scales get the coarse mask upsampled. On the study's
UNet (stride 16) at 256 px that is its 16×16 grid of 16-px patches. At 64 px the same rule gives a
4×4 grid of 16-px patches: the nearest the mechanism allows. A 16×16 grid of 4-px cells there would
leave every bottleneck pixel partly visible (at ratio 0.6 all 16 of its cells are masked with
probability 0.6¹⁶ ≈ 3e-4), so the deep scales would see no holes and their mask tokens nothing to fill:
not SparK. The cost is a coarser grid than the others at the CPU profiles (a quarter of the image per
cell rather than SparK's own seventh); the report says so through `methods list`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from benchmark.core.errors import BenchmarkError
from benchmark.model.unet import Encoder, UNet
from methods._patches import (masked_mean_fill, masked_mse, masked_patch_count, normalise_patches, patch_mean_std,
                              random_patch_mask, upsample_mask)
from benchmark.model.recipes import STUDY_BATCH, PretrainRecipe, scaled_lr
from methods.base import SSLMethod

#: SparK's learning-rate rule: lr = base_lr × batch / 256 (SparK pretrain/utils/arg_util.py).
SPARK_BASE_LR = 2e-4


@dataclass(frozen=True)
class SparKConfig:
    """Masking and loss of SparK on the UNet."""

    # side of a mask cell in pixels; None: the UNet's stride, one cell per bottleneck pixel (SparK's
    # rule; the study's 16×16 grid of 16-px patches at 256 px). A set value must be a multiple of it.
    patch: int | None = None
    mask_ratio: float = 0.6  # SparK's default, also the study's
    eps: float = 1e-6  # added to each patch's variance in the normalised target (SparK, MAE)

    def __post_init__(self) -> None:
        if not 0.0 < self.mask_ratio < 1.0:
            raise BenchmarkError(f"spark option mask_ratio={self.mask_ratio}: expected a value in (0, 1)")


class VisibleMask:
    """The visible patches of one batch at any resolution a layer works at, cached per size.

    Built once per batch; masks at coarser scales are the patch grid upsampled to that scale. When
    every image has the same number of visible patches (`visible_per_image`, as SparK's masks
    have), the visible positions are computed without a host sync.
    """

    def __init__(self, masked_grid: Tensor, visible_per_image: int | None = None) -> None:
        self.grid = ~masked_grid
        self.visible_per_image = visible_per_image
        self._masks: dict[tuple[int, int], Tensor] = {}
        self._indices: dict[tuple[int, int], tuple[Tensor, ...]] = {}

    def at(self, height: int, width: int) -> Tensor:
        """B×1×h×w bool, True = visible."""
        if (height, width) not in self._masks:
            self._masks[(height, width)] = upsample_mask(self.grid, height, width)
        return self._masks[(height, width)]

    def index(self, height: int, width: int) -> tuple[Tensor, ...]:
        """(batch, row, column) of the visible positions, computed once per scale. Without a known
        count per image, by `nonzero`, whose output size makes the host wait for the device."""
        if (height, width) not in self._indices:
            _, rows, cols = self.grid.shape
            if self.visible_per_image is not None and height % rows == 0 and width % cols == 0:
                self._indices[(height, width)] = self._positions(height // rows, width // cols)
            else:
                self._indices[(height, width)] = self.at(height, width)[:, 0].nonzero(as_tuple=True)
        return self._indices[(height, width)]

    def _positions(self, cell_height: int, cell_width: int) -> tuple[Tensor, ...]:
        """Every pixel of each image's visible cells, each cell `cell_height`×`cell_width` pixels:
        the visible cells are the first `visible_per_image` of a stable sort, in the grid's order."""
        b, _, cols = self.grid.shape
        device = self.grid.device
        k = self.visible_per_image
        cells = self.grid.reshape(b, -1).to(torch.uint8).argsort(dim=1, descending=True, stable=True)[:, :k]
        shape = (b, k, cell_height, cell_width)
        rows = (cells // cols)[:, :, None, None] * cell_height + torch.arange(cell_height, device=device)[:, None]
        columns = (cells % cols)[:, :, None, None] * cell_width + torch.arange(cell_width, device=device)
        batch = torch.arange(b, device=device)[:, None, None, None]
        return tuple(t.expand(shape).reshape(-1) for t in (batch, rows, columns))


def sparse_batch_norm(bn: nn.BatchNorm2d, x: Tensor, visible: VisibleMask) -> Tensor:
    """`bn` applied as if the visible positions were the whole batch; masked positions come out 0.

    Batch statistics and the running-buffer update see visible positions only (SparK's sparse BN),
    and `bn`'s own weight, bias and buffers are used, so the trained layer is a plain BatchNorm2d.
    """
    momentum = 0.0
    if bn.training and bn.track_running_stats:
        bn.num_batches_tracked.add_(1)
        momentum = 1.0 / float(bn.num_batches_tracked) if bn.momentum is None else bn.momentum
    index = visible.index(*x.shape[-2:])
    channels_last = x.permute(0, 2, 3, 1)
    normalised = F.batch_norm(
        channels_last[index],
        bn.running_mean,
        bn.running_var,
        bn.weight,
        bn.bias,
        bn.training or bn.running_mean is None,
        momentum,
        bn.eps,
    )
    dense = normalised.new_zeros(*channels_last.shape[:-1], normalised.shape[-1])
    return dense.index_put(index, normalised).permute(0, 3, 1, 2)


def sparse_encode(encoder: Encoder, images: Tensor, visible: VisibleMask) -> list[Tensor]:
    """The UNet encoder's features (finest first) computed from the visible patches alone.

    Walks the encoder's layers in order; ReLU keeps zeros at zero, every other layer is re-masked.
    """
    x = images * visible.at(*images.shape[-2:])
    features = []
    for stage in encoder.stages():
        for layer in (m for m in stage.modules() if not list(m.children())):
            if isinstance(layer, nn.BatchNorm2d):
                x = sparse_batch_norm(layer, x, visible)
            elif isinstance(layer, (nn.Conv2d, nn.MaxPool2d)):
                x = layer(x)
                x = x * visible.at(*x.shape[-2:])
            elif isinstance(layer, nn.ReLU):
                x = layer(x)
            else:
                raise TypeError(f"sparse_encode cannot keep masked positions empty through {layer!r}")
        features.append(x)
    return features


def spark_loss(prediction: Tensor, images: Tensor, masked_grid: Tensor, patch: int, eps: float) -> Tensor:
    """MSE to the per-patch-normalised image, over masked patches only, in float32."""
    target = normalise_patches(images.float(), patch, eps)
    return masked_mse(prediction.float(), target, upsample_mask(masked_grid, *images.shape[-2:]))


def spark_chance(images: Tensor, masked_grid: Tensor, patch: int, eps: float) -> Tensor:
    """`spark_loss` of the masked target's mean: the loss of a network that learned nothing (≈ 1, the
    normalised patches' variance)."""
    target = normalise_patches(images.float(), patch, eps)
    pixels = upsample_mask(masked_grid, *images.shape[-2:])
    return masked_mse(masked_mean_fill(target, pixels), target, pixels)


class SparK(SSLMethod):
    name = "spark"
    study_order = 3
    description = "SparK: sparse masked modelling; the encoder sees only the visible patches (ratio 0.6)."
    mask_grid = "stride"  # one cell per pixel of the encoder's deepest feature map
    label = "SparK"
    colour = "#2ca02c"
    transfers = "encoder+decoder"
    base_lr = SPARK_BASE_LR
    official_crop = (0.67, 1.0)  # SparK's RandomResizedCrop(scale=(0.67, 1)) + flip (pretrain/utils/imagenet.py)

    cfg: SparKConfig
    settings_type = SparKConfig  # the mechanism is cheap: tiny keeps the paper's masking

    def __init__(self, unet: UNet, cfg: SparKConfig | None = None) -> None:
        super().__init__(unet, cfg)
        stride = 2**unet.cfg.depth
        self.patch = self.cfg.patch or stride
        if self.patch % stride:
            raise BenchmarkError(
                f"spark option patch={self.cfg.patch}: must be a multiple of the UNet's stride {stride}"
            )
        widths = unet.cfg.widths()
        # One mask token per scale, truncated-normal init (std .02) as in SparK.
        self.mask_tokens = nn.ParameterList(nn.Parameter(torch.zeros(1, c, 1, 1)) for c in widths)
        for token in self.mask_tokens:
            nn.init.trunc_normal_(token, std=0.02, a=-0.02, b=0.02)
        # No densify norm or projection. SparK's own densify (sparse BN → mask token → 3×3 conv) feeds
        # a decoder SparK discards; here the decoder is transferred, and at fine-tuning it reads the
        # encoder's features directly. So during pre-training it reads them too (holes filled by mask
        # tokens): the transferred decoder sees the same input basis in both. The study's full-UNet
        # SparK built the projections (34.18 M parameters) but had the same inconsistency to solve.
        # Pretext head on the decoder output; the UNet's 2-class head is never used here.
        self.recon_head = nn.Conv2d(unet.cfg.base, 1, kernel_size=1)

    @classmethod
    def paper_recipe(cls) -> PretrainRecipe:
        # SparK used LAMB (betas 0.9/0.95) with weight decay annealed 0.04 → 0.2; the harness offers
        # AdamW/Adam/SGD and one constant weight decay, so: AdamW, same lr rule and betas, wd 0.04.
        # Batch 256, 300 epochs with 40 of warm-up (SparK's and the study's), cosine: PretrainRecipe's defaults.
        return PretrainRecipe(lr=scaled_lr(SPARK_BASE_LR, STUDY_BATCH), weight_decay=0.04)

    def draw_mask(self, images: Tensor) -> Tensor:
        """B×gh×gw patch mask (True = masked), one per image."""
        b, _, h, w = images.shape
        return random_patch_mask(b, h, w, self.patch, self.cfg.mask_ratio, images.device)

    def densify(self, features: list[Tensor], visible: VisibleMask) -> list[Tensor]:
        """Sparse features → dense decoder inputs: the encoder's own features where visible, each
        scale's mask token in the holes (with nothing masked: exactly what fine-tuning feeds it)."""
        return [torch.where(visible.at(*x.shape[-2:]), x, token.to(x.dtype))
                for x, token in zip(features, self.mask_tokens)]

    def reconstruct(self, images: Tensor, masked_grid: Tensor) -> Tensor:
        """Per-patch-normalised reconstruction, B×1×H×W."""
        cells = masked_grid[0].numel()
        visible = VisibleMask(masked_grid, cells - masked_patch_count(cells, self.cfg.mask_ratio))
        features = sparse_encode(self.unet.encoder, images, visible)
        return self.recon_head(self.unet.decoder(self.densify(features, visible)))

    def training_step(self, images: Tensor, step: int, total_steps: int, aux: dict[str, Tensor]) -> dict[str, Tensor]:
        grid = self.draw_mask(images)
        prediction = self.reconstruct(images, grid)
        return {"loss": spark_loss(prediction, images, grid, self.patch, self.cfg.eps),
                "chance": spark_chance(images, grid, self.patch, self.cfg.eps)}

    @torch.no_grad()
    def preview(self, images: Tensor) -> dict[str, Tensor]:
        """Masked input; output = visible patches as given, masked ones reconstructed and mapped back
        to intensities with the input patch's mean and std (SparK's own visualisation)."""
        grid = self.draw_mask(images)
        masked = upsample_mask(grid, *images.shape[-2:])
        mean, std = patch_mean_std(images, self.patch, self.cfg.eps)
        restored = self.reconstruct(images, grid).float() * std + mean
        return {"input": images.masked_fill(masked, 0.0), "output": torch.where(masked, restored, images)}
