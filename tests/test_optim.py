"""Weight decay as the official MAE, SparK and CMAE code apply it: weights decayed; biases, norm
parameters and learned tokens not."""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from benchmark.model.unet import UNet
from benchmark.model.recipes import FinetuneRecipe, PretrainRecipe
from benchmark.train.device import DeviceOptions
from benchmark.train.loops import TensorSet, finetune
from benchmark.train.optim import decay_groups, make_optimizer
from benchmark.model.unet_config import UNetConfig
from methods.cmunet import CMUNet
from methods.spark import SparK


def _names(module: nn.Module, group: dict) -> set[str]:
    ids = {id(p) for p in group["params"]}
    return {name for name, p in module.named_parameters() if id(p) in ids}


def test_biases_norms_and_tokens_are_not_decayed():
    method = SparK(UNet(UNetConfig(base=4)))
    decayed, kept = decay_groups(method, 0.05)
    assert decayed["weight_decay"] == 0.05 and kept["weight_decay"] == 0.0
    decayed_names, kept_names = _names(method, decayed), _names(method, kept)
    assert {f"mask_tokens.{i}" for i in range(5)} <= kept_names
    assert "unet.encoder.stem.0.weight" in decayed_names  # a 3×3 conv's weight
    assert "unet.encoder.stem.1.weight" in kept_names and "unet.encoder.stem.1.bias" in kept_names  # its BN
    assert "recon_head.bias" in kept_names and "recon_head.weight" in decayed_names
    assert all(p.ndim >= 2 for p in decayed["params"])
    every = {name for name, p in method.named_parameters() if p.requires_grad}
    assert decayed_names | kept_names == every and not decayed_names & kept_names


def test_momentum_copies_are_left_out_of_the_optimiser():
    method = CMUNet(UNet(UNetConfig(base=4)))
    grouped = {id(p) for group in decay_groups(method, 0.05) for p in group["params"]}
    frozen = [p for p in method.parameters() if not p.requires_grad]
    assert frozen and not any(id(p) in grouped for p in frozen)


def test_an_adamw_step_without_gradient_shrinks_weights_only():
    """With zero gradients AdamW's step is the decay alone: w ← w·(1 − lr·wd) for weights, nothing
    for a norm's scale or a bias."""
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2))
    nn.init.constant_(model[1].weight, 0.5)
    before = [p.detach().clone() for p in model.parameters()]
    recipe = PretrainRecipe(optimizer="adamw", lr=0.1, weight_decay=0.5)
    optimizer = make_optimizer(model, recipe)
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    optimizer.step()
    conv_w, conv_b, bn_w, bn_b = (p.detach() for p in model.parameters())
    torch.testing.assert_close(conv_w, before[0] * (1 - 0.1 * 0.5))
    for now, then in ((conv_b, before[1]), (bn_w, before[2]), (bn_b, before[3])):
        torch.testing.assert_close(now, then, rtol=0, atol=0)


def test_fine_tuning_takes_the_same_groups(monkeypatch):
    """Fine-tuning's Adam gets weights decayed and BN parameters not, at the recipe's decay."""
    made = []
    real_adam = torch.optim.Adam

    def recording_adam(groups, **kwargs):
        made.append(groups)
        return real_adam(groups, **kwargs)

    monkeypatch.setattr(torch.optim, "Adam", recording_adam)
    unet = UNet(UNetConfig(base=4))
    data = TensorSet(torch.randn(4, 1, 32, 32), torch.rand(4, 32, 32) > 0.8)
    recipe = dataclasses.replace(FinetuneRecipe(), lr=1e-3, weight_decay=0.01, steps=2, eval_every=2, batch_size=2)
    finetune(unet, data, data, recipe, DeviceOptions(device="cpu", bf16=False), seed=0)
    decayed, kept = made[0]
    assert decayed["weight_decay"] == 0.01 and kept["weight_decay"] == 0.0
    assert {"encoder.stem.1.weight", "encoder.stem.1.bias"} <= _names(unet, kept)
    assert "encoder.stem.0.weight" in _names(unet, decayed)
