"""What makes VasoMIM VasoMIM: a label-free vessel prior that finds vessels, masks that favour
vessel patches once the guided share is above zero (and are plain random masks at step 0), and a
consistency loss that is 0 for a perfect reconstruction and grows when a vessel goes missing."""

import math

import numpy as np
import pytest
import torch
from scipy import ndimage
from skimage.filters import sato

from benchmark.data.synthetic import synthetic_dataset
from benchmark.core.errors import BenchmarkError
from benchmark.model.unet import UNet, UNetConfig
from methods._patches import proportional_sample, random_patch_mask, weighted_patch_mask
from methods._vessel_prior import (
    VesselPriorConfig,
    clean,
    patch_vessel_mass,
    ridge_response,
    vessel_maps,
    vessel_prior,
)
from methods.mae import MAE
from methods.vasomim import VasoMIM, VasoMIMConfig, anatomical_consistency, guided_share

SIZE = 128


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny tensors: threads only add overhead


@pytest.fixture(scope="module")
def angiograms() -> tuple[torch.Tensor, np.ndarray]:
    """Four z-scored 128-px synthetic angiograms (B×1×H×W) and their true vessel masks (B×H×W)."""
    data = synthetic_dataset(n=4, size=SIZE, seed=0)
    images = np.stack([data[i][0] for i in range(len(data))]).astype(np.float32)
    masks = np.stack([data[i][1] for i in range(len(data))])
    z = (images - images.mean(axis=(1, 2), keepdims=True)) / images.std(axis=(1, 2), keepdims=True)
    return torch.from_numpy(z)[:, None], masks


def make_vasomim(**cfg) -> VasoMIM:
    torch.manual_seed(0)
    return VasoMIM(UNet(UNetConfig(base=4)), VasoMIMConfig(**cfg))


# ---------------------------------------------------------------- the vessel prior


def test_ridge_response_equals_scikit_image_sato_for_dark_ridges():
    rng = np.random.default_rng(0)
    image = ndimage.gaussian_filter(rng.normal(size=(64, 64)), 1.5).astype(np.float32)
    sigmas = (1.0, 2.0)
    ours = ridge_response(torch.from_numpy(image)[None, None], sigmas)[0, 0].numpy()
    reference = sato(image, sigmas=sigmas, black_ridges=True, mode="mirror")
    inner = (slice(12, -12), slice(12, -12))  # scikit-image filters twice with its own padding
    assert np.abs(ours - reference)[inner].max() < 1e-3 * reference.max()


def test_dark_gaussian_line_has_the_analytic_sato_response_and_a_bright_one_none():
    # I(x) = −exp(−x²/2w²) smoothed at σ has second derivative w/(w²+σ²)^{3/2} at its centre;
    # Sato scales it by σ².
    w, sigma = 2.0, 2.0
    x = torch.arange(64, dtype=torch.float32) - 32
    line = -torch.exp(-(x**2) / (2 * w**2)).view(1, 1, 1, 64).expand(1, 1, 64, 64)
    expected = sigma**2 * w / (w**2 + sigma**2) ** 1.5
    response = ridge_response(line, (sigma,))
    assert response[0, 0, 32, 32].item() == pytest.approx(expected, rel=0.02)
    assert response[0, 0, 32, 32] == response[0, 0].max()  # the centre line is the ridge
    assert ridge_response(-line, (sigma,))[0, 0, 24:40, 32].max().item() < 1e-6


def test_prior_finds_the_vessels_of_synthetic_angiograms(angiograms):
    images, masks = angiograms
    prior = vessel_prior(images, VesselPriorConfig())[:, 0].numpy()
    hits = (prior & masks).sum()
    precision, recall = hits / prior.sum(), hits / masks.sum()
    # a map blind to vessels would have precision equal to the vessel share (~3 %)
    assert precision > 5 * masks.mean()
    assert recall > 0.7
    assert 2 * hits / (prior.sum() + masks.sum()) > 0.5


def test_prior_ignores_the_border_band(angiograms):
    images, _ = angiograms
    cfg = VesselPriorConfig()
    border = cfg.border(SIZE)
    assert border == 4  # 16 px at 512 px
    framed = images.clone()
    framed[..., 2, :] -= 6.0  # dark lines inside the band, darker than any vessel
    framed[..., :, 2] -= 6.0
    assert VesselPriorConfig(border_512=0).border(SIZE) == 0
    # found when the band is not ignored
    assert vessel_prior(framed, VesselPriorConfig(border_512=0))[..., 2, 8:-8].all()
    prior = vessel_prior(framed, cfg)
    assert not prior[..., :border, :].any() and not prior[..., -border:, :].any()
    assert not prior[..., :border].any() and not prior[..., -border:].any()


def test_prior_keeps_at_most_the_share_above_the_percentile(angiograms):
    images, _ = angiograms
    prior = vessel_prior(images, VesselPriorConfig(percentile=92.0, clean_min_pixels_512=0))
    interior_pixels = (SIZE - 2 * 4) ** 2
    kept = prior.flatten(1).sum(dim=1)
    assert (kept <= math.floor(0.08 * interior_pixels) + 1).all()
    assert (kept >= 0.07 * interior_pixels).all()  # responses are continuous: few ties


def test_cleaning_removes_small_isolated_blobs_whole_and_keeps_a_line_whole():
    prior = torch.zeros(1, 1, 48, 48, dtype=torch.bool)
    prior[..., 4:6, 4:44] = True  # a 2-px-wide line, 80 px
    prior[..., 20:23, 10:14] = True  # a 12-px blob
    prior[..., 36:38, 10:15] = True  # a 10-px blob
    prior[..., 36, 15] = True  # ... with one more pixel: 11 px
    cleaned = clean(prior, window=9, min_pixels=12)
    assert cleaned[..., 4:6, 4:44].all()  # ends too, though their own window holds only 10
    assert cleaned[..., 20:23, 10:14].all()
    assert not cleaned[..., 30:, :].any()
    assert cleaned.sum() == 80 + 12


# ---------------------------------------------------------------- anatomy-guided masking


def test_guided_share_rises_linearly_from_zero_to_its_maximum():
    assert guided_share(0, 100, 0.5) == 0.0
    assert guided_share(50, 100, 0.5) == pytest.approx(0.25)
    assert guided_share(100, 100, 0.5) == pytest.approx(0.5)


def test_masking_at_step_zero_is_random_patch_mask_itself(angiograms):
    images, _ = angiograms
    method = make_vasomim()
    maps = vessel_maps(images, method.cfg.prior)
    torch.manual_seed(7)
    ours = method.mask(images, guided_share(0, 1000, 0.5), maps)[:, 0, ::8, ::8]  # 128 px: 8-px cells
    torch.manual_seed(7)
    assert torch.equal(ours, random_patch_mask(4, SIZE, SIZE, 8, 0.5))


def test_guided_masks_cover_more_vessel_mass_than_random_ones(angiograms):
    images, _ = angiograms
    mass = patch_vessel_mass(vessel_prior(images, VesselPriorConfig()), 16)
    torch.manual_seed(0)

    def mean_masked_mass(share: float) -> float:
        draws = [weighted_patch_mask(mass, 0.5, share) for _ in range(200)]
        return float(np.mean([(mass * m).sum() / m.sum() for m in draws]))

    uniform = mass.mean().item()  # what a random mask covers on average
    assert mean_masked_mass(0.0) == pytest.approx(uniform, rel=0.05)
    assert mean_masked_mass(0.5) > 1.25 * uniform
    assert mean_masked_mass(1.0) > mean_masked_mass(0.5)


def test_every_vessel_patch_is_masked_when_guided_draws_outnumber_them():
    mass = torch.zeros(3, 4, 4)
    mass[:, 0, 0], mass[:, 1, 2], mass[:, 3, 3] = 0.05, 0.5, 0.01  # 3 vessel patches of 16
    torch.manual_seed(0)
    for _ in range(20):
        mask = weighted_patch_mask(mass, ratio=0.5, guided_share=0.5)  # 8 masked, 4 guided
        assert (mask.flatten(1).sum(dim=1) == 8).all()
        assert mask[:, 0, 0].all() and mask[:, 1, 2].all() and mask[:, 3, 3].all()


def test_proportional_sample_draws_in_proportion_and_zero_weights_last():
    torch.manual_seed(0)
    weights = torch.tensor([[0.6, 0.3, 0.1, 0.0]]).expand(20000, 4)
    frequency = proportional_sample(weights, 1).float().mean(dim=0)
    assert torch.allclose(frequency, torch.tensor([0.6, 0.3, 0.1, 0.0]), atol=0.015)
    # once the positive entries run out, the zero-weight ones are drawn uniformly
    one_positive = torch.tensor([[1.0, 0.0, 0.0, 0.0]]).expand(20000, 4)
    drawn = proportional_sample(one_positive, 2).float().mean(dim=0)
    assert drawn[0] == 1.0
    assert torch.allclose(drawn[1:], torch.full((3,), 1 / 3), atol=0.015)


# ---------------------------------------------------------------- anatomical consistency


def _vessels_painted_over(images: torch.Tensor, vessels: np.ndarray) -> torch.Tensor:
    """The images with `vessels` (B×H×W) filled by the smoothed background around them."""
    z = images[:, 0].numpy()
    keep = (~vessels).astype(np.float32)
    support = np.maximum(ndimage.gaussian_filter(keep, (0, 4, 4)), 1e-6)
    background = ndimage.gaussian_filter(z * keep, (0, 4, 4)) / support
    return torch.from_numpy(np.where(vessels, background, z).astype(np.float32))[:, None]


def test_consistency_is_zero_for_identical_images_and_grows_as_vessels_go_missing(angiograms):
    images, masks = angiograms
    maps = vessel_maps(images, VesselPriorConfig())
    vessels = ndimage.binary_dilation(masks, structure=np.ones((1, 3, 3)))
    left_half = vessels.copy()
    left_half[..., SIZE // 2 :] = False

    def consistency(reconstruction: torch.Tensor) -> float:
        return anatomical_consistency(reconstruction, maps, softness=0.25).item()

    assert consistency(images.clone()) == 0.0
    assert abs(consistency(images + 1.0)) < 1e-7  # a brightness offset changes no curvature
    half_gone = consistency(_vessels_painted_over(images, left_half))
    all_gone = consistency(_vessels_painted_over(images, vessels))
    assert 0.01 < half_gone < all_gone


def test_consistency_gradient_reaches_the_reconstruction(angiograms):
    images, _ = angiograms
    maps = vessel_maps(images, VesselPriorConfig())
    reconstruction = ndimage.gaussian_filter(images.numpy(), (0, 0, 2, 2))
    reconstruction = torch.from_numpy(reconstruction).requires_grad_(True)
    anatomical_consistency(reconstruction, maps, softness=0.25).backward()
    assert torch.isfinite(reconstruction.grad).all() and reconstruction.grad.abs().sum() > 0


# ---------------------------------------------------------------- the method


def test_loss_is_masked_mse_plus_weighted_consistency():
    images = torch.randn(2, 1, 64, 64)
    out = make_vasomim(consistency_weight=0.3).training_step(images, 5, 10, {})
    expected = out["reconstruction"].item() + 0.3 * out["consistency"].item()
    assert out["loss"].item() == pytest.approx(expected, rel=1e-6)
    assert out["consistency"].item() > 0  # an untrained reconstruction loses the vessels' curvature


def test_training_step_reconstructs_with_its_own_one_channel_head():
    method = make_vasomim()
    images = torch.randn(2, 1, 64, 64)
    assert method.reconstruct(images).shape == (2, 1, 64, 64)
    method.training_step(images, 3, 10, {})["loss"].backward()
    assert method.recon_head.weight.grad.abs().sum() > 0
    assert method.unet.head.weight.grad is None  # the 2-class segmentation head plays no part


def test_preview_pastes_visible_patches_from_the_input():
    method = make_vasomim()
    images = torch.randn(2, 1, 64, 64) + 3.0  # no input pixel is 0 by chance
    preview = method.preview(images)
    visible = preview["input"] != 0
    assert torch.equal(preview["output"][visible], images[visible])
    assert (~visible).flatten(1).sum(dim=1).tolist() == [128 * 4 * 4] * 2  # half of 256 4-px patches


@pytest.mark.parametrize("profile", ["paper", "tiny"])
def test_recipe_and_transfer_are_maes(profile):
    assert VasoMIM.default_recipe(profile) == MAE.default_recipe(profile)
    assert VasoMIM.transfers == MAE.transfers == "encoder+decoder"


def test_bad_options_are_user_errors_naming_the_option():
    with pytest.raises(BenchmarkError, match="max_guided_share"):
        VasoMIMConfig(max_guided_share=1.5)
    with pytest.raises(BenchmarkError, match="consistency_weight"):
        VasoMIMConfig(consistency_weight=-1.0)
    with pytest.raises(BenchmarkError, match="percentile"):
        VesselPriorConfig(percentile=100.0)


def _cropped_views(images: torch.Tensor, seed: int) -> torch.Tensor:
    """The batch as the fair protocol's pre-training loop hands it to VasoMIM: MAE's random resized
    crop (area 0.2–1) + flip, per image."""
    from benchmark.train.loops import _same_view

    torch.manual_seed(seed)
    return _same_view(images, {}, VasoMIM.official_crop)[0]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_perfect_reconstruction_of_a_cropped_view_scores_zero_consistency(angiograms, seed):
    """The target is filtered from the view the network sees: reproducing that view is perfect,
    whatever the crop (filtered on the whole image and cropped after, it scored 0.06)."""
    view = _cropped_views(angiograms[0], seed)
    method = make_vasomim()
    method.reconstruct = lambda masked: view  # a network that restores every masked patch exactly
    out = method.training_step(view, 10, 20, {})
    assert out["consistency"].item() == pytest.approx(0.0, abs=1e-6)
    assert out["reconstruction"].item() == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_prior_of_a_cropped_view_keeps_the_percentiles_share(angiograms, seed):
    """The prior keeps the interior's top 8 % of response and cleaning only removes pixels, so on any
    view its share of the image is at most 8 % of the interior's share, and a crop (a zoom by up to
    √5) may change it only by what cleaning removes: within one percentage point of the whole
    image's (zoomed bilinearly and cast to bool, it grew from 7 % to 19 %)."""
    cfg = VesselPriorConfig()
    whole = vessel_prior(angiograms[0], cfg).float().mean(dim=(1, 2, 3))
    view = vessel_prior(_cropped_views(angiograms[0], seed), cfg).float().mean(dim=(1, 2, 3))
    border = cfg.border(SIZE)
    ceiling = (1 - cfg.percentile / 100) * (SIZE - 2 * border) ** 2 / SIZE**2
    assert (view <= ceiling + 1e-9).all()
    assert (view - whole).abs().max().item() <= 0.01
