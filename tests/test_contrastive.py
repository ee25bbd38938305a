"""Shared contrastive pieces: InfoNCE against analytic values, the key queue's ring buffer, the
projection MLP and the batched view augmentations."""

import math

import pytest
import torch

from benchmark.core.errors import BenchmarkError
from methods._contrastive import (
    KeyQueue,
    ViewAugment,
    augment_view,
    global_pool,
    info_nce,
    projection_mlp,
    random_resized_crop,
)


def test_info_nce_on_aligned_orthogonal_batch_equals_analytic_value():
    # B = 4 unit embeddings, each its own key, mutually orthogonal: logits 1/τ on the diagonal, 0 elsewhere.
    batch, tau = 4, 0.5
    embeddings = torch.eye(batch, 6)
    expected = -math.log(math.exp(1 / tau) / (math.exp(1 / tau) + (batch - 1) * math.exp(0.0)))
    assert info_nce(embeddings, embeddings, tau).item() == pytest.approx(expected, rel=1e-6)


def test_info_nce_with_queue_counts_every_queued_negative():
    # Queries = keys = e0..e2; five queued negatives orthogonal to all of them: logits [1/τ, 0 × 5].
    tau = 0.2
    eye = torch.eye(8)
    queries, negatives = eye[:3], eye[3:]
    expected = -math.log(math.exp(1 / tau) / (math.exp(1 / tau) + 5))
    assert info_nce(queries, queries, tau, negatives=negatives).item() == pytest.approx(expected, rel=1e-6)


def test_info_nce_compares_directions_not_lengths():
    torch.manual_seed(0)
    q, k = torch.randn(5, 7), torch.randn(5, 7)
    assert info_nce(3.0 * q, 0.5 * k, 0.1).item() == pytest.approx(info_nce(q, k, 0.1).item(), rel=1e-5)


def test_info_nce_is_log_batch_when_every_similarity_is_equal():
    # All embeddings identical: the positive is one of B equal logits, so the loss is log B.
    same = torch.ones(6, 3)
    assert info_nce(same, same, 0.07).item() == pytest.approx(math.log(6), rel=1e-5)


def queue_with_rows(size: int, dim: int = 2) -> KeyQueue:
    queue = KeyQueue(size, dim)
    queue.keys.zero_()
    return queue


def unit_keys(*indices: int, dim: int = 2) -> torch.Tensor:
    """Key i = (cos i, sin i): distinct unit vectors that identify where each key went."""
    angles = torch.tensor(indices, dtype=torch.float32)
    return torch.stack([angles.cos(), angles.sin()], dim=1)


def test_queue_fills_in_order_and_wraps_round_the_end():
    queue = queue_with_rows(5)
    queue.enqueue(unit_keys(1, 2, 3))
    assert queue.ptr.item() == 3
    queue.enqueue(unit_keys(4, 5, 6))  # 3 does not divide 5: rows 3, 4, then 0
    assert queue.ptr.item() == 1
    assert torch.allclose(queue.keys, unit_keys(6, 2, 3, 4, 5), atol=1e-6)


def test_queue_keeps_only_the_newest_keys_of_a_batch_larger_than_itself():
    queue = queue_with_rows(3)
    queue.enqueue(unit_keys(1))
    queue.enqueue(unit_keys(2, 3, 4, 5))  # as if enqueued one at a time: rows 1, 2, 0, 1
    assert queue.ptr.item() == (1 + 4) % 3
    assert torch.allclose(queue.keys, unit_keys(4, 5, 3), atol=1e-6)


def test_queue_stores_unit_keys_and_is_checkpointed():
    queue = KeyQueue(4, 3)
    queue.enqueue(torch.tensor([[3.0, 0.0, 4.0]]))
    assert torch.allclose(queue.keys[0], torch.tensor([0.6, 0.0, 0.8]))
    assert torch.allclose(queue.keys.norm(dim=1), torch.ones(4))
    assert set(queue.state_dict()) == {"keys", "ptr"}


def test_projection_mlp_is_fc_bn_relu_fc():
    mlp = projection_mlp(8, 16, 4)
    kinds = [type(layer).__name__ for layer in mlp]
    assert kinds == ["Linear", "BatchNorm1d", "ReLU", "Linear"]
    assert mlp(torch.randn(5, 8)).shape == (5, 4)


def test_global_pool_is_the_spatial_mean():
    x = torch.arange(2 * 3 * 4 * 4, dtype=torch.float32).view(2, 3, 4, 4)
    assert torch.equal(global_pool(x), x.mean(dim=(2, 3)))


def ramp(size: int = 16) -> torch.Tensor:
    y, x = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    return (3.0 * y + x).float()[None, None].repeat(2, 1, 1, 1)


def test_full_unflipped_crop_returns_the_image():
    images = ramp()
    crop = random_resized_crop(images, (16, 16), scale=(1.0, 1.0), ratio=(1.0, 1.0), flip_p=0.0)
    assert torch.allclose(crop, images, atol=1e-4)


def test_full_flipped_crop_mirrors_the_image():
    images = ramp()
    crop = random_resized_crop(images, (16, 16), scale=(1.0, 1.0), ratio=(1.0, 1.0), flip_p=1.0)
    assert torch.allclose(crop, images.flip(-1), atol=1e-4)


def test_quarter_area_crop_sees_a_quarter_of_the_range():
    # A 16-px ramp x cropped to a quarter of the area at aspect 1 spans half the width: range ≈ 8 px.
    images = torch.arange(16.0).view(1, 1, 1, 16).expand(1, 1, 16, 16).contiguous()
    crop = random_resized_crop(images, (16, 16), scale=(0.25, 0.25), ratio=(1.0, 1.0), flip_p=0.0)
    assert (crop.amax() - crop.amin()).item() == pytest.approx(8 * 15 / 16, abs=0.05)


def test_augmented_views_differ_per_draw_and_repeat_per_seed():
    images = ramp(32)
    torch.manual_seed(3)
    a, b = augment_view(images, ViewAugment()), augment_view(images, ViewAugment())
    torch.manual_seed(3)
    a_again = augment_view(images, ViewAugment())
    assert a.shape == images.shape
    assert torch.equal(a, a_again)
    assert not torch.allclose(a, b)


def test_bad_augment_option_names_the_option():
    with pytest.raises(BenchmarkError, match="crop_scale"):
        ViewAugment(crop_scale=(0.0, 1.0))
