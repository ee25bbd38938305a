"""MoCo v2 on the UNet encoder (He et al. 2020, "Momentum contrast"; Chen et al. 2020, "Improved
baselines with momentum contrastive learning"), one of the CM-UNet study's baselines.

Two augmented views of each image. The query encoder is the UNet encoder + global average pooling of
the bottleneck + a 2-layer MLP head; the key encoder and key head are momentum copies (EMA, no
gradients). InfoNCE scores each query against its key and a queue of keys from earlier steps. Only
the encoder is transferred.

Queue update: the keys of a step are enqueued at the end of `training_step`, after the logits are
computed, exactly as MoCo does inside its forward pass; `after_step` does only the EMA.

Shuffling BN: MoCo shuffles the key batch across GPUs so that a key's BatchNorm statistics come from
other images than its query's, which stops the two from matching through batch statistics. On one
device the same effect comes from running the key encoder on a random permutation of the batch split
into `bn_splits` groups, each normalised on its own, and restoring the order afterwards (the
single-GPU "split BN" variant of MoCo's own CIFAR demo).

Deviations: the study's code (pl_bolts MoCo, Pretraining/MoCo) used no MLP head and τ = 0.07
(MoCo v1 settings); we follow MoCo v2 as the study names it: MLP head, τ = 0.2. MoCo v2's head is
FC-ReLU-FC; ours has BN after the first FC (as in SimCLR and MoCo v3) because a freshly initialised
UNet encoder gives nearly the same pooled, post-ReLU vector for every image: without BN all
embeddings start almost parallel, the loss starts at its floor against the random queue and a short
run learns nothing (measured on the contract's fixed batch: flat loss without BN, falling with it).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from benchmark.core.errors import BenchmarkError
from benchmark.model.unet import UNet
from methods._contrastive import KeyQueue, ViewAugment, augment_view, global_pool, info_nce, projection_mlp
from benchmark.model.recipes import PretrainRecipe, ema_momentum_for, queue_size_for
from methods.base import Profile, SSLMethod, momentum_copy


@dataclass(frozen=True)
class MoCoConfig:
    """MoCo v2's settings (Chen et al. 2020) unless noted."""

    queue_size: int = 65_536  # K, MoCo
    dim: int = 128  # output of the MLP head
    hidden: int = 2048  # MLP hidden width
    temperature: float = 0.2  # τ, MoCo v2
    momentum: float = 0.999  # key-encoder EMA, MoCo
    bn_splits: int = 8  # key-encoder BN groups: MoCo's 8 GPUs × 32 images at batch 256
    augment: ViewAugment = field(default_factory=ViewAugment)

    def __post_init__(self) -> None:
        if self.queue_size < 1:
            raise BenchmarkError(f"moco option queue_size={self.queue_size}: expected a positive size")
        if self.temperature <= 0:
            raise BenchmarkError(f"moco option temperature={self.temperature}: expected a positive value")
        if not 0.0 <= self.momentum <= 1.0:
            raise BenchmarkError(f"moco option momentum={self.momentum}: expected a value in [0, 1]")
        if self.bn_splits < 1:
            raise BenchmarkError(f"moco option bn_splits={self.bn_splits}: expected at least 1")


class MoCo(SSLMethod):
    name = "moco"
    study_order = 4
    description = "MoCo v2: momentum key encoder, queue of negatives, InfoNCE on two augmented views."
    label = "MoCo v2"
    colour = "#9467bd"
    transfers = "encoder"

    cfg: MoCoConfig

    def __init__(self, unet: UNet, cfg: MoCoConfig | None = None) -> None:
        super().__init__(unet, cfg)
        c = self.cfg
        self.head = projection_mlp(unet.encoder.widths[-1], c.hidden, c.dim)
        self.key_encoder = momentum_copy(unet.encoder)
        self.key_head = momentum_copy(self.head)
        self.queue = KeyQueue(c.queue_size, c.dim)

    @classmethod
    def default_config(cls, profile: Profile) -> MoCoConfig:
        if profile != "paper":  # tiny and small: CPU-sized runs
            # Narrower head; a faster EMA so the keys follow the queries within a few hundred steps. The
            # queue stays large next to a short run's keys: on a small, repeated set of images every
            # enqueued key is a near copy of some query's positive (a false negative), and a queue of a
            # few hundred fills with them within tens of steps, after which the loss can only rise.
            return MoCoConfig(queue_size=16_384, hidden=256, momentum=0.99, bn_splits=2)
        return MoCoConfig()

    @classmethod
    def fit_to_budget(cls, settings: MoCoConfig, images: int, steps: int, batch_size: int) -> MoCoConfig:
        """The queue and the key encoder's EMA sized to this set and run (benchmark.model.recipes rules)."""
        return dataclasses.replace(settings, queue_size=queue_size_for(images, batch_size),
                                   momentum=ema_momentum_for(steps))

    @classmethod
    def paper_recipe(cls) -> PretrainRecipe:
        # MoCo v2: SGD, lr 0.03 × batch/256, momentum 0.9, wd 1e-4, 200 epochs, cosine, no warm-up.
        # 200 is within the study's 300 pre-training epochs, so no cap applies.
        batch = 256
        return PretrainRecipe(
            optimizer="sgd",
            lr=0.03 * batch / 256,
            weight_decay=1e-4,
            momentum=0.9,
            batch_size=batch,
            epochs=200,
            warmup_epochs=0,
            schedule="cosine",
        )

    def query(self, view: Tensor) -> Tensor:
        return self.head(global_pool(self.unet.encoder(view)[-1]))

    @torch.no_grad()
    def key(self, view: Tensor) -> Tensor:
        """Key embeddings in the batch's order, BN statistics taken over shuffled groups (see module doc)."""
        order = torch.randperm(view.shape[0], device=view.device)
        # At least two images per group: BatchNorm1d in the key head cannot normalise a single one.
        groups = view[order].tensor_split(max(1, min(self.cfg.bn_splits, view.shape[0] // 2)))
        keys = torch.cat([self.key_head(global_pool(self.key_encoder(g)[-1])) for g in groups])
        return keys[order.argsort()]

    def views(self, images: Tensor) -> tuple[Tensor, Tensor]:
        return augment_view(images, self.cfg.augment), augment_view(images, self.cfg.augment)

    def training_step(self, images: Tensor, step: int, total_steps: int, aux: dict[str, Tensor]) -> dict[str, Tensor]:
        view_q, view_k = self.views(images)
        q = self.query(view_q)
        k = self.key(view_k)
        loss = info_nce(q, k, self.cfg.temperature, negatives=self.queue.keys)
        self.queue.enqueue(k)
        positive = nn.functional.cosine_similarity(q.detach().float(), k.float()).mean()
        # chance: log(K + 1), InfoNCE when the positive scores no higher than the K queued negatives
        chance = torch.full((), math.log(self.queue.size + 1), device=loss.device)
        return {"loss": loss, "chance": chance, "positive_similarity": positive}

    def momentum_pairs(self) -> list[tuple[nn.Module, nn.Module]]:
        return [(self.unet.encoder, self.key_encoder), (self.head, self.key_head)]

    def ema_momentum(self, step: int, total_steps: int) -> float:
        return self.cfg.momentum  # constant, as in MoCo

    @torch.no_grad()
    def preview(self, images: Tensor) -> dict[str, Tensor]:
        """The two augmented views a query and its key are computed from."""
        view_q, view_k = self.views(images)
        return {"input": view_q, "output": view_k}
