"""The plain training loop the harness is timed against, written the way the study's code trains.

fp32, channels-first; a torch DataLoader over uint8 images that z-scores and augments each sample
on the CPU in `__getitem__`; a host→device copy of every batch; `loss.item()` after every step; a
plain (not fused) optimiser at a constant learning rate. Model, loss, batch and image size are the
harness's own, so the two loops differ only in how they feed and run the same computation.

The CPU augmentation here (flips, 90° turns, brightness/contrast, Gaussian noise, in numpy) is
lighter than the study's pipeline, which also blurred, cropped and downscaled on the CPU, so if
anything the plain loop's images/s flatter it.
"""

from __future__ import annotations

from typing import Callable, Iterator

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, RandomSampler

from benchmark.data.preprocess import zscore
from benchmark.model.losses import dice_ce_loss
from benchmark.train.optim import make_optimizer
from benchmark.model.recipes import PretrainRecipe
from methods.base import SSLMethod


def augment_sample(arrays: list[NDArray], rng: np.random.Generator) -> list[NDArray]:
    """Flips and 90° turns move every array alike (image, mask); intensity changes touch arrays[0]."""
    if rng.random() < 0.5:
        arrays = [a[:, ::-1] for a in arrays]
    if rng.random() < 0.5:
        arrays = [a[::-1] for a in arrays]
    if arrays[0].shape[0] == arrays[0].shape[1]:
        turns = int(rng.integers(4))
        arrays = [np.rot90(a, turns) for a in arrays]
    image = arrays[0]
    if rng.random() < 0.3:
        mean = image.mean()
        image = (image - mean) * rng.uniform(0.75, 1.25) + mean + rng.uniform(-0.2, 0.2)
    if rng.random() < 0.2:
        image = image + rng.normal(0.0, 0.1, image.shape)
    return [image.astype(np.float32), *arrays[1:]]


class PlainImages(Dataset):
    """uint8 images N×H×W (with bool masks for fine-tuning) in host memory, turned into float
    tensors one sample at a time: z-score, then (if `augment`) `augment_sample`.

    Items are tuples, (image 1×H×W,) or (image, mask H×W int64), so every batch is a list.
    The augmentation's generator is seeded from torch's RNG, which the DataLoader seeds per worker.
    """

    def __init__(self, images: NDArray[np.uint8], masks: NDArray[np.bool_] | None, augment: bool) -> None:
        self.images, self.masks, self.augment = images, masks, augment

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[Tensor, ...]:
        arrays = [zscore(self.images[index])]
        if self.masks is not None:
            arrays.append(self.masks[index].astype(np.int64))
        if self.augment:
            arrays = augment_sample(arrays, np.random.default_rng(int(torch.randint(2**31 - 1, ()))))
        image, *mask = (torch.from_numpy(np.ascontiguousarray(a)) for a in arrays)
        return (image[None], *mask)


def plain_loader(dataset: PlainImages, batch: int, batches: int, workers: int, seed: int) -> DataLoader:
    """`batches` batches from concatenated shuffles of the dataset, so one iterator serves the
    warm-up and the timed steps with no epoch boundary between them."""
    sampler = RandomSampler(dataset, num_samples=batches * batch, generator=torch.Generator().manual_seed(seed))
    return DataLoader(dataset, batch_size=batch, sampler=sampler, num_workers=workers, drop_last=True,
                      generator=torch.Generator().manual_seed(seed + 1))


class PlainLoop:
    """A model's loss on a batch, its optimiser and its loader; `run(n)` takes the next n steps."""

    def __init__(
        self,
        loss_of: Callable[[list[Tensor], int], Tensor],
        optimizer: torch.optim.Optimizer,
        loader: DataLoader,
        device: torch.device,
        after_step: Callable[[int], None] | None = None,
    ) -> None:
        self.loss_of, self.optimizer, self.device, self.after_step = loss_of, optimizer, device, after_step
        self.batches: Iterator[list[Tensor]] = iter(loader)
        self.step = 0

    def run(self, steps: int) -> list[float]:
        """Train `steps` steps; the loss of each, read back to the host every step."""
        losses = []
        for _ in range(steps):
            batch = [t.to(self.device) for t in next(self.batches)]
            loss = self.loss_of(batch, self.step)
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
            if self.after_step:
                self.after_step(self.step)
            losses.append(loss.item())
            self.step += 1
        return losses


def plain_finetune_loop(
    unet: nn.Module,
    images: NDArray[np.uint8],
    masks: NDArray[np.bool_],
    batch: int,
    total_steps: int,
    device: torch.device,
    workers: int = 0,
    lr: float = 1e-4,
    augment: bool = True,
    seed: int = 0,
) -> PlainLoop:
    """Fine-tuning with Dice + CE and Adam, as benchmark.train.loops.finetune computes it."""
    unet.to(device).train()
    loader = plain_loader(PlainImages(images, masks, augment), batch, total_steps, workers, seed)
    optimizer = torch.optim.Adam(unet.parameters(), lr=lr)
    return PlainLoop(lambda b, step: dice_ce_loss(unet(b[0]), b[1]), optimizer, loader, device)


def plain_pretrain_loop(
    method: SSLMethod,
    images: NDArray[np.uint8],
    recipe: PretrainRecipe,
    total_steps: int,
    device: torch.device,
    workers: int = 0,
    augment: bool = True,
    seed: int = 0,
    masks: NDArray[np.bool_] | None = None,
) -> PlainLoop:
    """The method's pretext step with the recipe's optimiser and batch, at the recipe's base lr.
    `masks` reach a method that pre-trains on labels (the positive control), as the harness gives them."""
    method.to(device).train()
    loader = plain_loader(PlainImages(images, masks, augment), recipe.batch_size, total_steps, workers, seed)
    optimizer = make_optimizer(method, recipe, fused=False)

    def loss(batch: tuple[Tensor, ...], step: int) -> Tensor:
        aux = {"masks": batch[1][:, None].float()} if masks is not None else {}
        return method.training_step(batch[0], step, total_steps, aux)["loss"]

    return PlainLoop(loss, optimizer, loader, device, lambda step: method.after_step(step, total_steps))
