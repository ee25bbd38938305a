"""The method contract as executable checks: run by the test suite over every registered method
and by `angiobench methods check NAME` for a method being written."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from scipy import ndimage

from benchmark.model.unet import TRANSFERRED_PARTS, UNet, UNetConfig
from benchmark.train.optim import make_optimizer
from methods.base import Method, SSLMethod

CHECK_SIZE = 64
CHECK_BASE = 4
CHECK_BATCH = 8
LOSS_STEPS = 40


class ContractViolation(Exception):
    """A method breaks the contract: raised by a check, so it holds under `python -O` too (which
    drops `assert` statements)."""


def require(condition: object, failure: str) -> None:
    if not condition:
        raise ContractViolation(failure)


@dataclass(frozen=True)
class CheckResult:
    name: str
    passed: bool
    detail: str


def fixed_batch(size: int = CHECK_SIZE, batch: int = CHECK_BATCH, seed: int = 0) -> torch.Tensor:
    """Smooth z-scored images with dark curvilinear structures: learnable, and the same every call."""
    rng = np.random.default_rng(seed)
    images = []
    yy, xx = np.mgrid[0:size, 0:size] / size
    for _ in range(batch):
        background = ndimage.gaussian_filter(rng.normal(size=(size, size)), size / 8)
        phase, freq = rng.uniform(0, 2 * np.pi), rng.uniform(2, 5)
        curve = np.abs(yy - 0.5 - 0.25 * np.sin(freq * xx * np.pi + phase)) < 0.03
        image = background / (background.std() + 1e-8) - 2.0 * curve
        images.append((image - image.mean()) / image.std())
    return torch.tensor(np.stack(images)[:, None], dtype=torch.float32)


def build(cls: type[Method], seed: int = 0) -> Method:
    torch.manual_seed(seed)
    unet = UNet(UNetConfig(base=CHECK_BASE))
    return cls(unet, cls.default_config("tiny"))


def _step(method: SSLMethod, images: torch.Tensor, step: int) -> dict[str, torch.Tensor]:
    """One training step called as the harness calls it, with what `prepare` computes (and, for a
    method that pre-trains on labels, the fixed batch's dark curves as its masks)."""
    aux = method.prepare(images)
    if method.uses_labels:
        aux = {**aux, "masks": (images < -1.0).float()}
    return method.training_step(images, step, LOSS_STEPS, aux)


def _first_loss(cls: type[SSLMethod], images: torch.Tensor) -> float:
    method = build(cls)
    torch.manual_seed(1)
    return float(_step(method, images, 0)["loss"].detach())


def check_finite_scalar_loss(cls: type[SSLMethod], images: torch.Tensor) -> str:
    out = _step(build(cls), images, 0)
    loss = out["loss"]
    require(loss.ndim == 0, f"loss has shape {tuple(loss.shape)}, expected a scalar")
    require(torch.isfinite(loss), f"loss is {loss.item()}")
    return f"loss {loss.item():.4f}"


def check_gradients_reach_encoder(cls: type[SSLMethod], images: torch.Tensor) -> str:
    method = build(cls)
    _step(method, images, 0)["loss"].backward()
    grads = [p.grad for p in method.unet.encoder.parameters() if p.grad is not None]
    require(grads, "no encoder parameter received a gradient")
    norm = float(sum(g.abs().sum() for g in grads))
    require(norm > 0, "encoder gradients are all zero")
    return f"encoder gradient L1 {norm:.3g}"


def check_loss_falls(cls: type[SSLMethod], images: torch.Tensor) -> str:
    method = build(cls)
    recipe = cls.default_recipe("tiny")
    optimizer = make_optimizer(method, recipe)
    losses = []
    for step in range(LOSS_STEPS):
        loss = _step(method, images, step)["loss"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        method.after_step(step, LOSS_STEPS)
        losses.append(float(loss.detach()))
    first, last = np.mean(losses[:5]), np.mean(losses[-5:])
    require(last < first, f"loss did not fall: first five {first:.4f}, last five {last:.4f}")
    return f"loss {first:.4f} → {last:.4f} over {LOSS_STEPS} steps"


def check_momentum_branches(cls: type[SSLMethod], images: torch.Tensor) -> str:
    method = build(cls)
    pairs = method.momentum_pairs()
    if not pairs:
        return "no momentum branch"
    optimizer = make_optimizer(method, cls.default_recipe("tiny"))
    _step(method, images, 0)["loss"].backward()
    for _, target in pairs:
        bad = [n for n, p in target.named_parameters() if p.grad is not None or p.requires_grad]
        require(not bad, f"momentum parameters take gradients: {bad[:3]}")
    optimizer.step()
    before = [[p.detach().clone() for p in t.parameters()] for _, t in pairs]
    online = [[p.detach().clone() for p in o.parameters()] for o, _ in pairs]
    method.after_step(0, LOSS_STEPS)
    m = method.ema_momentum(0, LOSS_STEPS)
    for (_, target), old, new_online in zip(pairs, before, online):
        for p, p_old, p_online in zip(target.parameters(), old, new_online):
            expected = m * p_old + (1 - m) * p_online
            require(torch.allclose(p, expected, atol=1e-6), "momentum branch moved by more than EMA")
    return f"{len(pairs)} momentum pair(s), EMA m={m}"


def check_transfer_loads_strictly(cls: type[Method], images: torch.Tensor) -> str:
    method = build(cls)
    transferred = method.pretrained_unet()
    target = UNet(method.unet.cfg)
    target.load_state_dict(transferred.state_dict(), strict=True)
    for part in TRANSFERRED_PARTS[cls.transfers]:
        for (name, a), b in zip(
            getattr(method.unet, part).state_dict().items(),
            getattr(transferred, part).state_dict().values(),
        ):
            require(torch.equal(a, b), f"{part}.{name} differs from the pre-trained weights")
    require(transferred.head is not method.unet.head, "the classifier must not be transferred")
    return f"transfers {cls.transfers}"


def check_same_seed_same_loss(cls: type[SSLMethod], images: torch.Tensor) -> str:
    a, b = _first_loss(cls, images), _first_loss(cls, images)
    require(a == b, f"two runs with seed 0 gave losses {a} and {b}")
    return f"loss {a:.6f} twice"


SSL_CHECKS: dict[str, Callable[[type[SSLMethod], torch.Tensor], str]] = {
    "finite scalar loss": check_finite_scalar_loss,
    "gradients reach the encoder": check_gradients_reach_encoder,
    "loss falls on a fixed batch": check_loss_falls,
    "momentum branches move by EMA only": check_momentum_branches,
    "same seed gives the same loss": check_same_seed_same_loss,
}


def run_contract(cls: type[Method]) -> list[CheckResult]:
    """Every check that applies to `cls`, each caught separately so one failure hides no other."""
    images = fixed_batch()
    checks: dict[str, Callable] = {"transferred UNet loads strictly": check_transfer_loads_strictly}
    if cls.pretrains:
        checks = {**SSL_CHECKS, **checks}
    results = []
    for name, check in checks.items():
        try:
            results.append(CheckResult(name, True, check(cls, images)))
        except ContractViolation as failure:
            results.append(CheckResult(name, False, str(failure)))
        except Exception as error:  # a crash in a method being written is a failed check, not a bug here
            results.append(CheckResult(name, False, f"{type(error).__name__}: {error}"))
    return results
