"""The random resized crop + flip the pre-training loop applies to a batch and its per-image maps."""

from __future__ import annotations

import pytest
import torch

from benchmark.data.views import same_view


def _blobs(seed: int) -> torch.Tensor:
    """8 boolean 64-px maps, ~7 % True in thin bars: a vessel prior's share and shape, roughly."""
    generator = torch.Generator().manual_seed(seed)
    maps = torch.zeros(8, 1, 64, 64, dtype=torch.bool)
    for image in range(8):
        for _ in range(3):
            row = int(torch.randint(4, 60, (1,), generator=generator))
            maps[image, 0, row : row + 2, 8:56] = True
    return maps


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_boolean_map_keeps_its_share_under_the_crop(seed):
    """Zoomed bilinearly and thresholded at one half, a map covers what its float copy, resampled
    the same way, covers on average, within a tenth (cast straight to bool, every pixel the map
    touched would count: about half as much again for these 2-px bars)."""
    maps = _blobs(seed)
    torch.manual_seed(seed)
    coverage, map_view = same_view([maps.float(), maps], (0.2, 1.0))
    assert map_view.dtype == torch.bool and coverage.dtype == torch.float32
    assert map_view.float().mean().item() == pytest.approx(coverage.mean().item(), rel=0.1)
    assert (coverage > 0).float().mean().item() > 1.3 * coverage.mean().item()  # what a cast would give


def test_map_and_image_get_the_same_crop():
    """A map that is a function of the image pixel by pixel stays that function of the view."""
    images = torch.randn(4, 1, 32, 32)
    torch.manual_seed(0)
    view, doubled = same_view([images, 2 * images], (0.2, 1.0))
    torch.testing.assert_close(doubled, 2 * view)
