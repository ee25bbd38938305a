"""Fine-tuning loss: soft Dice + λ·cross-entropy, differentiable end to end.

The reference code thresholded the softmax before its Dice term, so that term had no gradient;
here the Dice is computed on probabilities.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def soft_dice_loss(logits: Tensor, target: Tensor, eps: float = 1.0) -> Tensor:
    """1 − soft Dice of the vessel class, per image then averaged; `eps` smooths empty masks."""
    prob = logits.float().softmax(dim=1)[:, 1]
    target = target.float()
    dims = (1, 2)
    intersection = (prob * target).sum(dims)
    total = prob.sum(dims) + target.sum(dims)
    return (1.0 - (2.0 * intersection + eps) / (total + eps)).mean()


def dice_ce_loss(logits: Tensor, target: Tensor, ce_weight: float = 1.0) -> Tensor:
    """Soft Dice + ce_weight · CE; `logits` B×2×H×W, `target` B×H×W bool/long."""
    ce = F.cross_entropy(logits.float(), target.long())
    return soft_dice_loss(logits, target) + ce_weight * ce


def batch_dice(pred: Tensor, target: Tensor) -> Tensor:
    """Hard Dice per image (B), with both-empty = 1: the validation score for model selection."""
    pred, target = pred.bool(), target.bool()
    inter = (pred & target).flatten(1).sum(1).float()
    total = pred.flatten(1).sum(1).float() + target.flatten(1).sum(1).float()
    return torch.where(total > 0, 2 * inter / total.clamp_min(1), torch.ones_like(total))
