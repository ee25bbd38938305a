"""The harness's training loops: one pre-training loop for every SSL method, the fine-tuning loop
that keeps its best validation round, and batched prediction. How many steps each runs is
benchmark.train.schedule; which lr a fine-tuned model is trained with, benchmark.train.selection.

Data live on the training device as tensors (the datasets are small), so no step waits on CPU
loading; on CUDA steps run under bf16 autocast in channels_last, and the loss is read back to the
host only every `log_every` steps. `DeviceOptions(compile=True)` runs the training step through
`torch.compile`; the first step's wall time, which includes compiling, is logged as `compile_s`.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import torch
from torch import nn
from torch import Tensor

from benchmark.data.augment import augment_batch
from benchmark.data.views import same_view
from benchmark.model.losses import batch_dice, dice_ce_loss
from benchmark.model.unet import UNet
from benchmark.train.optim import decay_groups, lr_factor, make_optimizer, set_lr
from benchmark.core.progress import Progress
from benchmark.model.recipes import FinetuneRecipe, PretrainRecipe
from benchmark.train.device import DeviceOptions
from benchmark.train.schedule import finetune_rounds, pretrain_schedule
from methods.base import SSLMethod

class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite: the job is recorded as failed, its dependants skipped."""


def image_tensor(images: np.ndarray) -> Tensor:
    """N×S×S images (or masks) as the N×1×S×S float32 tensor the networks take."""
    return torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32))[:, None]


@dataclass
class TensorSet:
    """Images N×1×H×W float32 (z-scored) and masks N×H×W bool, on one device."""

    images: Tensor
    masks: Tensor

    def __len__(self) -> int:
        return self.images.shape[0]

    def subset(self, index: Tensor | list[int]) -> "TensorSet":
        index = torch.as_tensor(index, dtype=torch.long, device=self.images.device)
        return TensorSet(self.images[index], self.masks[index])

    def to(self, device: torch.device | str) -> "TensorSet":
        return TensorSet(self.images.to(device), self.masks.to(device))

    @classmethod
    def from_numpy(cls, images: np.ndarray, masks: np.ndarray, device: str = "cpu") -> "TensorSet":
        return cls(image_tensor(images).to(device), torch.from_numpy(np.ascontiguousarray(masks, dtype=bool)).to(device))


def _batches(n: int, batch: int, samples: int, generator: torch.Generator, device: torch.device) -> Iterator[Tensor]:
    """Index batches, on `device`, covering `samples` draws from concatenated permutations of range(n)."""
    draws = []
    while sum(len(d) for d in draws) < samples:
        draws.append(torch.randperm(n, generator=generator))
    order = _to_device(torch.cat(draws)[:samples], device)
    for start in range(0, samples, batch):
        yield order[start : start + batch]


def _to_device(index: Tensor, device: torch.device) -> Tensor:
    """An epoch's shuffled indices, drawn on the CPU (the same order on every device), copied once.
    Non-blocking: a blocking copy from pageable memory waits for all queued GPU work, which would
    stop the host from running ahead of the device."""
    return index.to(device, non_blocking=True)


def _seconds_since(start: float, device: torch.device) -> float:
    """Wall time since `start`, after waiting for the device's queued work."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def _check_finite(losses: list[Tensor], where: str) -> list[float]:
    values = torch.stack(losses).float().cpu().tolist()
    if not all(math.isfinite(v) for v in values):
        raise TrainingDiverged(f"{where}: loss became {values[-1]} (NaN/inf)")
    return values


def pretrain(
    method: SSLMethod,
    images: Tensor,
    recipe: PretrainRecipe,
    options: DeviceOptions,
    seed: int,
    progress: Progress | None = None,
    masks: Tensor | None = None,
) -> list[dict[str, float]]:
    """Run the method's pretext task over `images` (N×1×H×W) with the recipe; return the loss curve
    (with the method's chance level beside the loss where its step reports one: benchmark.train.health).

    The loop is the same for every method: per-epoch shuffles from `seed`, warm-up then the
    recipe's schedule, the method's `after_step` after each optimiser step. What the method's
    `prepare` computes per image (a vessel prior, say) is computed once here, not every step.
    """
    device = options.torch_device
    method.to(device=device, memory_format=options.memory_format()).train()
    images = images.to(device)
    aux = method.prepare(images)
    if masks is not None:  # a method that pre-trains on labels (the positive control)
        aux = {**aux, "masks": masks.to(device=device, dtype=torch.float32)}
    n = images.shape[0]
    schedule = pretrain_schedule(n, recipe)
    total, warmup = schedule.total_steps, schedule.warmup_steps
    optimizer = make_optimizer(method, recipe, fused=device.type == "cuda")
    generator = torch.Generator().manual_seed(seed)
    training_step = torch.compile(method.training_step) if options.compile else method.training_step
    compile_log: dict[str, float] = {}  # {"compile_s": first-step seconds} when compiling
    curve: list[dict[str, float]] = []
    pending: list[Tensor] = []
    pending_chance: list[Tensor] = []  # the method's chance level per step, when it says one
    step = 0
    for epoch in range(schedule.epochs):
        order = _to_device(torch.randperm(n, generator=generator), device)
        for start, size in schedule.batches[: total - step]:
            started = time.perf_counter()
            set_lr(optimizer, recipe.lr * lr_factor(step, total, warmup, recipe.schedule))
            index = order[start : start + size]
            x, batch_aux = images[index], {k: v[index] for k, v in aux.items()}
            if recipe.crop_scale is not None:
                x, batch_aux = _same_view(x, batch_aux, recipe.crop_scale)
            x = x.contiguous(memory_format=options.memory_format())
            with options.autocast():
                out = training_step(x, step, total, batch_aux)
                loss = out["loss"]
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            method.after_step(step, total)
            if options.compile and not compile_log:
                compile_log["compile_s"] = _seconds_since(started, device)
            pending.append(loss.detach())
            if "chance" in out:
                pending_chance.append(torch.as_tensor(out["chance"], device=device).detach().float())
            step += 1
            if step % options.log_every == 0 or step == total:
                values = _check_finite(pending, f"pre-training step {step}")
                entry = {"step": step, "epoch": epoch, "loss": float(np.mean(values)), **compile_log}
                if pending_chance:
                    entry["chance"] = float(torch.stack(pending_chance).mean())
                curve.append(entry)
                pending, pending_chance = [], []
        if progress:
            progress(epoch + 1, schedule.epochs, f"loss {curve[-1]['loss']:.4f}" if curve else "")
    return curve


def _same_view(images: Tensor, aux: dict[str, Tensor], scale: tuple[float, float]) -> tuple[Tensor, dict[str, Tensor]]:
    """The batch and its prepared per-pixel maps under one random resized crop + flip per image;
    per-image values that are not maps (a threshold, say) are kept as they are."""
    maps = [k for k, v in aux.items() if v.ndim == 4 and v.shape[-2:] == images.shape[-2:]]
    views = same_view([images, *(aux[k] for k in maps)], scale)
    return views[0], {**aux, **dict(zip(maps, views[1:]))}


@dataclass
class FinetuneResult:
    state: dict[str, Tensor]  # the selected weights (best validation Dice)
    best_epoch: int  # the selected round: an epoch, or with a step budget a block of `eval_every` steps
    best_val_dice: float
    history: list[dict[str, float]]
    steps: int = 0  # optimiser steps run
    lr: float = 0.0  # the learning rate the selected weights were trained with


@torch.no_grad()
def predict(unet: UNet, images: Tensor, options: DeviceOptions, batch_size: int = 16) -> Tensor:
    """Vessel masks (N×H×W bool, on the images' device) by argmax of the 2-class output."""
    unet.eval()
    out = []
    for start in range(0, images.shape[0], batch_size):
        x = images[start : start + batch_size].contiguous(memory_format=options.memory_format())
        with options.autocast():
            out.append(unet(x).argmax(dim=1).bool())
    return torch.cat(out) if out else torch.zeros(0, *images.shape[2:], dtype=torch.bool)


def validation_dice(unet: UNet, data: TensorSet, options: DeviceOptions) -> float:
    return float(batch_dice(predict(unet, data.images, options), data.masks).mean())


def freeze_encoder(unet: UNet) -> None:
    """The frozen-encoder probe: the encoder's weights take no gradient (the optimiser then skips them,
    benchmark.train.optim.decay_groups) and its norm layers keep their statistics (`hold_frozen_norms`)."""
    for parameter in unet.encoder.parameters():
        parameter.requires_grad_(False)


def hold_frozen_norms(module: nn.Module) -> None:
    """Norm layers whose own parameters are all frozen stay in evaluation mode while the rest trains:
    a frozen encoder's features must not drift through its batch statistics either."""
    for layer in module.modules():
        own = list(layer.parameters(recurse=False))
        if isinstance(layer, nn.modules.batchnorm._NormBase) and own and not any(p.requires_grad for p in own):
            layer.eval()


def finetune(
    unet: UNet,
    train: TensorSet,
    val: TensorSet,
    recipe: FinetuneRecipe,
    options: DeviceOptions,
    seed: int,
    progress: Progress | None = None,
) -> FinetuneResult:
    """Fine-tune with Dice+CE and keep the weights of the best validation epoch.

    Selection sees only `val` (a part of the fine-tuning set); the test set never enters here.
    """
    device = options.torch_device
    unet.to(device=device, memory_format=options.memory_format())
    train, val = train.to(device), val.to(device)
    optimizer = torch.optim.Adam(decay_groups(unet, recipe.weight_decay), lr=recipe.lr, fused=device.type == "cuda")
    forward = torch.compile(unet) if options.compile else unet
    compile_log: dict[str, float] = {}  # {"compile_s": first-step seconds} when compiling
    index_generator = torch.Generator().manual_seed(seed)
    augment_generator = torch.Generator(device=device).manual_seed(seed + 1)
    rounds = finetune_rounds(recipe, len(train))
    best = FinetuneResult(copy.deepcopy(unet.state_dict()), -1, -1.0, [], 0, recipe.lr)
    stale = 0
    for epoch, (samples, validate) in enumerate(rounds):
        unet.train()
        hold_frozen_norms(unet)
        losses = []
        for index in _batches(len(train), recipe.batch_size, samples, index_generator, device):
            started = time.perf_counter()
            batch = train.subset(index)
            x, y = augment_batch(batch.images, batch.masks, recipe.augment, augment_generator)
            x = x.contiguous(memory_format=options.memory_format())
            with options.autocast():
                loss = dice_ce_loss(forward(x), y.reshape(x.shape[0], *x.shape[2:]), recipe.ce_weight)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if options.compile and not compile_log:
                compile_log["compile_s"] = _seconds_since(started, device)
            losses.append(loss.detach())
            best.steps += 1
        if not validate:
            continue
        mean_loss = float(np.mean(_check_finite(losses, f"fine-tuning epoch {epoch + 1}")))
        score = validation_dice(unet, val, options)
        best.history.append({"epoch": epoch + 1, "step": best.steps, "loss": mean_loss, "val_dice": score,
                             **compile_log})
        if score > best.best_val_dice:
            best.state = copy.deepcopy(unet.state_dict())
            best.best_epoch, best.best_val_dice, stale = epoch + 1, score, 0
        else:
            stale += 1
        if progress:
            progress(epoch + 1, len(rounds), f"loss {mean_loss:.3f} val Dice {score:.3f}")
        if recipe.patience and stale >= recipe.patience:
            break
    return best
