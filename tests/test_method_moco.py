"""What makes MoCo v2 MoCo: a momentum key encoder moved by EMA only, a checkpointed queue of past
keys used as negatives, InfoNCE with τ 0.2, and only the encoder transferred."""

import dataclasses

import pytest
import torch

from benchmark.core.errors import BenchmarkError
from benchmark.model.unet import UNet, UNetConfig
from benchmark.train.optim import make_optimizer
from methods.moco import MoCo, MoCoConfig


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny tensors: threads only add overhead


def build(queue_size: int = 32) -> MoCo:
    torch.manual_seed(0)
    cfg = dataclasses.replace(MoCo.default_config("tiny"), queue_size=queue_size)
    return MoCo(UNet(UNetConfig(base=4)), cfg)


def batch(size: int = 6) -> torch.Tensor:
    torch.manual_seed(1)
    return torch.randn(size, 1, 32, 32)


def test_paper_settings_are_moco_v2():
    cfg = MoCo.default_config("paper")
    assert (cfg.queue_size, cfg.dim, cfg.hidden) == (65_536, 128, 2048)
    assert (cfg.temperature, cfg.momentum) == (0.2, 0.999)
    recipe = MoCo.default_recipe("paper")
    assert (recipe.optimizer, recipe.lr, recipe.momentum, recipe.weight_decay) == ("sgd", 0.03, 0.9, 1e-4)
    assert (recipe.batch_size, recipe.epochs, recipe.warmup_epochs) == (256, 200, 0)
    assert recipe.schedule == "cosine"


def test_tiny_profile_keeps_the_mechanism():
    paper, tiny = MoCo.default_config("paper"), MoCo.default_config("tiny")
    assert tiny.temperature == paper.temperature and tiny.augment == paper.augment


def test_training_step_enqueues_this_steps_unit_keys_after_scoring():
    method = build(queue_size=10)
    before = method.queue.keys.clone()
    images = batch(6)
    method.training_step(images, 0, 1, {})
    assert method.queue.ptr.item() == 6
    assert not torch.allclose(method.queue.keys[:6], before[:6])
    assert torch.equal(method.queue.keys[6:], before[6:])
    assert torch.allclose(method.queue.keys[:6].norm(dim=1), torch.ones(6), atol=1e-6)
    method.training_step(images, 1, 2, {})  # 6 more keys into 10 rows: rows 6–9, then 0–1
    assert method.queue.ptr.item() == 2


def test_enqueued_keys_are_the_key_encoders_embeddings_of_the_second_view():
    method = build(queue_size=8).eval()  # eval: BN uses running statistics, so groups do not matter
    images = batch(4)
    torch.manual_seed(5)
    view_q, view_k = method.views(images)
    expected = torch.nn.functional.normalize(method.key(view_k), dim=1)
    torch.manual_seed(5)
    method.training_step(images, 0, 1, {})
    assert torch.allclose(method.queue.keys[:4], expected, atol=1e-5)


def test_key_shuffle_restores_the_batch_order():
    method = build().eval()
    images = batch(6)
    unshuffled = method.key_head(method.key_encoder(images)[-1].mean(dim=(2, 3)))
    assert torch.allclose(method.key(images), unshuffled, atol=1e-5)


def test_queue_and_pointer_are_checkpointed_buffers():
    method = build()
    method.training_step(batch(6), 0, 1, {})
    state = method.state_dict()
    restored = build()
    restored.load_state_dict(state)
    assert torch.equal(restored.queue.keys, method.queue.keys)
    assert restored.queue.ptr.item() == 6


def test_key_branch_gets_no_gradient_and_moves_by_ema_only():
    method = build()
    optimizer = make_optimizer(method, MoCo.default_recipe("tiny"))
    method.training_step(batch(6), 0, 1, {})["loss"].backward()
    key_params = list(method.key_encoder.parameters()) + list(method.key_head.parameters())
    assert all(p.grad is None and not p.requires_grad for p in key_params)
    before = [p.clone() for p in key_params]
    optimizer.step()
    assert all(torch.equal(p, b) for p, b in zip(key_params, before)), "the optimiser moved a key weight"
    online = list(method.unet.encoder.parameters()) + list(method.head.parameters())
    m = method.ema_momentum(0, 1)
    method.after_step(0, 1)
    for p, b, o in zip(key_params, before, online):
        assert torch.allclose(p, m * b + (1 - m) * o, atol=1e-6)


def test_key_encoder_starts_as_a_copy_of_the_query_encoder():
    method = build()
    for q, k in zip(method.unet.encoder.state_dict().values(), method.key_encoder.state_dict().values()):
        assert torch.equal(q, k)


def test_only_the_encoder_is_transferred():
    method = build()
    with torch.no_grad():
        for p in method.unet.decoder.parameters():
            p.add_(1.0)
    transferred = method.pretrained_unet()
    assert torch.equal(transferred.encoder.stem[0].weight, method.unet.encoder.stem[0].weight)
    assert not torch.equal(transferred.decoder.ups[0].up.weight, method.unet.decoder.ups[0].up.weight)


def test_bad_option_names_the_option():
    with pytest.raises(BenchmarkError, match="queue_size"):
        MoCoConfig(queue_size=0)
