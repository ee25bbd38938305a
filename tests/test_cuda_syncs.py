"""On CUDA a training step never waits for the device: a call's host synchronisations stay the same
however many steps it runs (set-up and the losses read back at the end are per call). Needs a GPU:
skipped elsewhere, run it on a lent one."""

from __future__ import annotations

import warnings
from dataclasses import replace
from typing import Callable

import pytest
import torch

from benchmark.model.unet import UNet, UNetConfig
from benchmark.speed.measure import image_pool, zscored
from benchmark.model.recipes import FinetuneRecipe
from benchmark.train.device import DeviceOptions
from benchmark.train.loops import TensorSet, finetune, pretrain
from methods import registry

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

CUDA = DeviceOptions(device="cuda", log_every=10**6)  # losses read back once, at the end of a call


def count_syncs(call: Callable[[], object]) -> int:
    """Host synchronisations during `call`, as CUDA's sync debug mode reports them."""
    torch.cuda.synchronize()
    previous = torch.cuda.get_sync_debug_mode()
    torch.cuda.set_sync_debug_mode("warn")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            call()
    finally:
        torch.cuda.set_sync_debug_mode(previous)
    return sum("synchroniz" in str(w.message).lower() for w in caught)


def test_sync_counting_sees_one_sync_per_read_back():
    x = torch.ones(4, device="cuda")
    three, six = (count_syncs(lambda n=n: [x.sum().item() for _ in range(n)]) for n in (3, 6))
    assert six == 2 * three > 0


@pytest.mark.parametrize("name", [name for name, cls in registry().items() if cls.pretrains])
def test_pretraining_steps_do_not_wait_for_the_device(name):
    images = torch.from_numpy(zscored(image_pool(8, 64)[0]))[:, None].cuda()
    cls = registry()[name]

    def run(epochs: int) -> Callable[[], object]:  # 8 images, batch 4: two steps an epoch
        torch.manual_seed(0)
        method = cls(UNet(UNetConfig(base=8)), cls.default_config("tiny"))
        recipe = replace(cls.default_recipe("tiny"), batch_size=4, epochs=epochs, warmup_epochs=0)
        return lambda: pretrain(method, images, recipe, CUDA, seed=0)

    run(1)()  # lazy CUDA initialisation and cuDNN autotuning happen once, here
    assert count_syncs(run(4)) == count_syncs(run(2))


def test_finetuning_steps_do_not_wait_for_the_device():
    images, masks = image_pool(8, 64)
    data = TensorSet.from_numpy(zscored(images), masks, "cuda")

    def run(steps: int) -> Callable[[], object]:  # one epoch of `steps` batches of 4
        torch.manual_seed(0)
        recipe = FinetuneRecipe(batch_size=4, epochs=1, min_samples_per_epoch=4 * steps)
        unet = UNet(UNetConfig(base=8))
        return lambda: finetune(unet, data, data.subset([0]), recipe, CUDA, seed=0)

    run(1)()
    assert count_syncs(run(6)) == count_syncs(run(3))
