"""Gradients of the metric: gradcheck in float64, finite everywhere, and agreement with libvmaf itself."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from filteropt.datasets.sample import pan_clip
from filteropt.media import libvmaf_on_tensors
from filteropt.vmaf import VMAF, vif
from filteropt.vmaf.adm import adm_features, dwt_bands
from filteropt.vmaf.motion import motion_features
from filteropt.vmaf.vif import vif_features
from filteropt.vmaf.vmaf import MIN_SIZE


def _generic_pair(size: int = 32, frames: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """A natural clip and a noisy, slightly sharpened version of it, float64, requiring grad."""
    gen = torch.Generator().manual_seed(1)
    ref = pan_clip("camera", size, size, frames, velocity=(0.7, 0.4)).double()
    dis = ref + 6.0 * torch.randn(ref.shape, generator=gen, dtype=torch.float64)
    return ref.requires_grad_(), dis.requires_grad_()


@pytest.mark.parametrize("name,fn", [
    ("vif", lambda r, d: torch.stack(list(vif_features(r, d).values()))),
    ("vif_neg", lambda r, d: torch.stack(list(vif_features(r, d, enhn_gain_limit=1.0).values()))),
    ("adm", lambda r, d: torch.stack(list(adm_features(r, d).values()))),
    ("adm_neg", lambda r, d: torch.stack(list(adm_features(r, d, enhn_gain_limit=1.0).values()))),
    ("motion", lambda r, d: motion_features(r)["motion2"] + 0 * d.sum()),
])
def test_feature_gradcheck(name, fn):
    ref, dis = _generic_pair()
    assert torch.autograd.gradcheck(fn, (ref, dis), fast_mode=True, atol=1e-6, rtol=1e-4)


@pytest.mark.parametrize("chunk_rows", [None, 8])
def test_vif_gradcheck_whole_frame_and_row_chunks(monkeypatch, chunk_rows):
    """Both backward paths: a frame in one chunk (batched transposed blocks) and in row chunks.

    Slow mode: fast mode's random projection let a gradient off by half on the chunked path pass.
    """
    if chunk_rows:
        monkeypatch.setattr(vif, "_CHUNK_ELEMS", 5 * 32 * chunk_rows)  # rows of the 5 maps of 1 frame
    chunks = vif._row_chunks(32, 0, 5 * 32, vif._ROW_BLOCK, vif._CHUNK_ELEMS)
    assert (len(chunks) > 1) == bool(chunk_rows)
    ref, dis = _generic_pair(frames=1)
    fn = lambda d: torch.stack(list(vif_features(ref.detach(), d).values()))  # noqa: E731
    assert torch.autograd.gradcheck(fn, (dis,), atol=1e-6, rtol=1e-4)


@pytest.mark.parametrize("model", ["vmaf_v0.6.1", "vmaf_v0.6.1neg"])
def test_score_gradcheck(model):
    ref, dis = _generic_pair()
    metric = VMAF(model)
    assert torch.autograd.gradcheck(lambda r, d: metric(r, d).scores, (ref, dis), fast_mode=True,
                                    atol=1e-6, rtol=1e-4)


@pytest.mark.parametrize("case", ["flat", "black", "white", "identical", "min_size", "one_frame"])
def test_backward_is_finite(case):
    size = MIN_SIZE if case == "min_size" else 48
    ref = pan_clip("coffee", size, size, 3, velocity=(0.5, 0.5))
    if case == "flat":
        ref = torch.full_like(ref, 117.0)
    elif case == "black":
        ref = torch.zeros_like(ref)
    elif case == "white":
        ref = torch.full_like(ref, 255.0)
    elif case == "one_frame":
        ref = ref[:1]
    dis = ref.clone().requires_grad_()
    for model in ("vmaf_v0.6.1", "vmaf_v0.6.1neg"):
        score = VMAF(model)(ref, dis).scores.sum()
        (grad,) = torch.autograd.grad(score, dis)
        assert torch.isfinite(score) and torch.isfinite(grad).all(), (case, model)


def test_features_on_identical_frames_are_one():
    ref = pan_clip("chelsea", 64, 48, 2)
    features = VMAF()(ref, ref).features
    for name in ("adm2", "vif_scale0", "vif_scale1", "vif_scale2", "vif_scale3"):
        assert torch.allclose(features[name], torch.ones(2), atol=1e-6), name


@pytest.mark.slow
def test_autograd_matches_finite_differences_of_libvmaf():
    """Perturb the taps of a 5x5 blur on a real photo, round to 8 bit and re-run libvmaf: the slope
    of libvmaf's (float model, unclipped) score agrees with our autograd derivative within 2 %."""
    ref = pan_clip("astronaut", 960, 540, 3, velocity=(0.6, 0.3)).double()
    g = torch.exp(-torch.arange(-2, 3, dtype=torch.float64) ** 2 / (2 * 0.9 ** 2))
    base = torch.outer(g, g) / g.sum() ** 2
    direction = torch.zeros(5, 5, dtype=torch.float64)
    direction[2, 2] = 1.0
    direction = (direction - direction.mean()) / (direction - direction.mean()).abs().sum()

    def blurred(theta):
        kernel = (base + theta * direction)[None, None]
        return F.conv2d(F.pad(ref, (2, 2, 2, 2), mode="reflect"), kernel)

    theta = torch.zeros((), dtype=torch.float64, requires_grad=True)
    VMAF()(ref, blurred(theta)).scores.mean().backward()
    h = 0.04
    lib = [libvmaf_on_tensors(ref, blurred(torch.tensor(t)).detach().round().clamp(0, 255),
                              "vmaf_float_v0.6.1", clip=False).column("vmaf").mean().item() for t in (-h, h)]
    finite_difference = (lib[1] - lib[0]) / (2 * h)
    assert abs(theta.grad.item() - finite_difference) <= 0.02 * abs(finite_difference)


@pytest.mark.parametrize("height,width", [(17, 17), (18, 19), (20, 23), (19, 22)])
def test_dwt_gradcheck_odd_and_even_sizes(height, width):
    """The DWT's hand-written backward (mirrored borders, odd and even sides) is its exact adjoint."""
    gen = torch.Generator().manual_seed(2)
    x = (255 * torch.rand(2, height, width, generator=gen, dtype=torch.float64)).requires_grad_()
    assert torch.autograd.gradcheck(lambda t: dwt_bands(t, 128.0), (x,))
