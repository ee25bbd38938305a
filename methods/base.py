"""The contract every method implements: the whole plug-in surface of the benchmark.

A method owns only its pretext task (views, masks, corruptions, heads, momentum copies) and
returns a loss. The harness (`benchmark.train.loops.pretrain`) owns the loop, optimiser, schedule,
precision, checkpoints and seeds, so every method is trained the same way.
"""

from __future__ import annotations

import copy
from abc import abstractmethod
from typing import Any, ClassVar, Literal

import torch
from torch import Tensor, nn

from benchmark.model.unet import TRANSFERRED_PARTS, Transfer, UNet, load_parts
from benchmark.model.recipes import REFERENCE_BASE_LR, TINY_PRETRAIN_RECIPE, PretrainRecipe
from benchmark.model.roles import Role

Profile = Literal["tiny", "small", "paper"]


class Method(nn.Module):
    """A benchmark method wrapped around a UNet; `supervised` is one with no pre-training."""

    name: ClassVar[str]
    description: ClassVar[str]
    #: How figures and tables name the method ("" → its `name`) and the matplotlib colour of its
    #: lines and points ("" → one of the report's spare colours). The run stores both in its folder
    #: (benchmark/run/folder/looks.py), so a report never imports the method to draw it.
    label: ClassVar[str] = ""
    colour: ClassVar[str] = ""
    transfers: ClassVar[Transfer]
    pretrains: ClassVar[bool] = True
    #: What the method is to the study (benchmark.model.roles.Role): the one `baseline`, a `contender`, or a
    #: control; reports find the baseline and the controls by it, never by name.
    role: ClassVar[Role] = "contender"
    #: Its place in the study's tables (the paper's order, the baseline first); None: after those,
    #: alphabetically.
    study_order: ClassVar[int | None] = None
    #: Shown by figures of one method unless the report is told another (the study's Fig. 4 shows the
    #: paper's own method).
    featured: ClassVar[bool] = False
    #: Pre-trains on the pre-training set's labels (the positive control); they reach
    #: `training_step` as aux["masks"] (B×1×H×W float), and the unlabelled pool is left out.
    uses_labels: ClassVar[bool] = False
    #: Fine-tunes under its own seed stream instead of its cell's common one (the negative control).
    independent_seed: ClassVar[bool] = False
    #: The patch mask's geometry, relative to the image as its paper sets it: cells per image side
    #: (the study's 16, whatever the image size), "stride" for one cell per pixel of the UNet's
    #: deepest feature map (SparK), None for a method that masks no patches. `methods list` shows it.
    mask_grid: ClassVar[int | str | None] = None

    def __init__(self, unet: UNet, cfg: Any = None) -> None:
        super().__init__()
        self.unet = unet
        self.cfg = cfg if cfg is not None else self.default_config("paper")

    #: The dataclass of the method's own settings (mask ratio, queue size, ...); None if it has none.
    settings_type: ClassVar[type | None] = None

    @classmethod
    def default_config(cls, profile: Profile) -> Any:
        """The method's own settings for a profile: `settings_type`'s defaults (the paper's) at every
        profile unless the method overrides this; None for a method without settings."""
        return cls.settings_type() if cls.settings_type is not None else None

    @classmethod
    def default_recipe(cls, profile: Profile) -> PretrainRecipe:
        """A stand-alone recipe for tests and speed probes: the method's paper recipe at `paper`, a
        short CPU one (lr 1e-3, batch 16, 6 epochs) at the CPU profiles. Not what a run trains with:
        that is its protocol's (benchmark.config.protocols.protocol_recipe, from benchmark.config.profiles)."""
        return TINY_PRETRAIN_RECIPE if profile != "paper" else cls.paper_recipe()

    @classmethod
    def paper_recipe(cls) -> PretrainRecipe:
        """The method's published recipe; methods override this one, never the tiny one."""
        return PretrainRecipe()

    @classmethod
    def transferred_parts(cls) -> tuple[str, ...]:
        """The UNet's sub-modules whose weights fine-tuning takes from pre-training."""
        return TRANSFERRED_PARTS[cls.transfers]

    @classmethod
    def load_transferred(cls, unet: UNet, state: dict[str, Tensor]) -> None:
        """Copy the transferred parts of a pre-trained UNet's `state` into `unet` (benchmark.model.unet.load_parts)."""
        load_parts(unet, state, cls.transfers)

    def pretrained_unet(self) -> UNet:
        """A UNet whose transferred parts carry this method's weights; the rest is freshly initialised.

        The 1×1 classifier is never transferred: a pretext head's output means something else.
        """
        fresh = UNet(self.unet.cfg)
        for part in self.transferred_parts():
            getattr(fresh, part).load_state_dict(getattr(self.unet, part).state_dict())
        return fresh


class SSLMethod(Method):
    """A self-supervised method: one training step returns its pretext loss."""

    #: The paper's base learning rate under the rule lr = base × batch / 256 (the fair protocol's
    #: rule, benchmark.model.recipes); MAE's, for methods whose papers used SGD.
    base_lr: ClassVar[float] = REFERENCE_BASE_LR
    #: The random-resized-crop area range of the official recipe (with a horizontal flip), which the
    #: harness applies under the fair protocol; None for methods that augment inside their own step.
    official_crop: ClassVar[tuple[float, float] | None] = None

    @classmethod
    def fit_to_budget(cls, settings: Any, images: int, steps: int, batch_size: int) -> Any:
        """The settings scaled to the pre-training set and step count under the fair protocol
        (MoCo's queue and momentum, say); unchanged by default."""
        return settings

    @abstractmethod
    def training_step(
        self, images: Tensor, step: int, total_steps: int, aux: dict[str, Tensor]
    ) -> dict[str, Tensor]:
        """Build views/masks/corruptions of `images` (B×1×H×W, z-scored) and return {"loss": ..., **logs}.

        `aux` holds this batch's rows of what `prepare` computed ({} when it computes nothing).
        """

    @torch.no_grad()
    def prepare(self, images: Tensor) -> dict[str, Tensor]:
        """Per-image tensors (first dim N, in the order of `images`) computed once before pre-training.

        For label-free priors that cost a filter pass per image: the harness calls this once on the
        whole pre-training set and hands each batch its rows as `aux`. Default: nothing.
        """
        return {}

    def after_step(self, step: int, total_steps: int) -> None:
        """Called after each optimiser step; by default, the EMA update of every momentum pair."""
        momentum = self.ema_momentum(step, total_steps)
        for online, target in self.momentum_pairs():
            ema_update(target, online, momentum)

    def momentum_pairs(self) -> list[tuple[nn.Module, nn.Module]]:
        """(online, momentum copy) pairs that `after_step` EMA-updates; the copies never get gradients.

        The contract test checks that after `after_step` each copy equals
        m·copy + (1−m)·online with m = `ema_momentum(step, total_steps)`.
        """
        return []

    def ema_momentum(self, step: int, total_steps: int) -> float:
        """The EMA coefficient used by `after_step` at this step (methods with momentum branches)."""
        return 1.0

    @torch.no_grad()
    def preview(self, images: Tensor) -> dict[str, Tensor]:
        """Pretext input and output for a few fixed images, for the report's figures.

        Default: none. Methods that reconstruct return {"input": ..., "output": ...}, B×1×H×W.
        """
        return {}


@torch.no_grad()
def ema_update(target: nn.Module, online: nn.Module, momentum: float) -> None:
    """target ← m·target + (1−m)·online, parameters and float buffers (BN statistics) alike."""
    for t, o in zip(target.parameters(), online.parameters()):
        t.mul_(momentum).add_(o.detach(), alpha=1.0 - momentum)
    for t, o in zip(target.buffers(), online.buffers()):
        if t.dtype.is_floating_point:
            t.mul_(momentum).add_(o.detach(), alpha=1.0 - momentum)
        else:
            t.copy_(o)


def momentum_copy(module: nn.Module) -> nn.Module:
    """A frozen copy of `module` for a momentum branch: same weights, no gradients."""
    target = copy.deepcopy(module)
    for p in target.parameters():
        p.requires_grad_(False)
    return target
