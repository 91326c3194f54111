"""The prefilters' `deploy` gives exactly the pixels of ffmpeg's own filters (run live here)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from filteropt.datasets.sample import pan_clip
from filteropt.errors import FilteroptError
from filteropt.export import linear_to_ffmpeg, unsharp_to_ffmpeg
from filteropt.export.ffmpeg_filters import INT32_MAX, unsharp_overflows
from filteropt.media.ffmpeg import run_ffmpeg
from filteropt.media.transform import ffmpeg_filter_frames
from filteropt.prefilters import LinearPrefilter, UnsharpPrefilter, ffmpeg_convolution, ffmpeg_unsharp
from filteropt.prefilters.linear import convolution_sum

UNSHARP_AMOUNTS = (-2.0, -0.73, 0.3, 1.0, 2.345678, 5.0)


@pytest.fixture(scope="module")
def clips() -> dict[int, torch.Tensor]:
    """Small natural clips (two photos, two frames each) at 8 and 10 bit."""
    return {bd: torch.cat([pan_clip("astronaut", 161, 91, 2, bit_depth=bd),
                           pan_clip("coffee", 161, 91, 2, bit_depth=bd, velocity=(-1.3, 0.4))])
            for bd in (8, 10)}


@pytest.fixture(scope="module")
def big_clips() -> dict[int, torch.Tensor]:
    """One 640x360 frame of a third photo at 8 and 10 bit."""
    return {bd: pan_clip("chelsea", 640, 360, 1, bit_depth=bd) for bd in (8, 10)}


def assert_identical(ours: torch.Tensor, theirs: torch.Tensor) -> None:
    """Every pixel equal (the message gives % identical and the worst difference otherwise)."""
    same = (ours == theirs).double().mean().item()
    worst = (ours - theirs).abs().max().item()
    assert same == 1.0, f"{100 * same:.4f}% identical, max diff {worst}"


def random_kernels(seed: int) -> list[tuple[np.ndarray, float]]:
    """(kernel, alpha) pairs: random dense kernels and trained-looking identity perturbations."""
    rng = np.random.default_rng(seed)
    out = []
    for size in (3, 5, 7):
        out.append((rng.normal(0.0, 0.3, (size, size)), float(rng.uniform(0, 1))))  # wild, any sum
    ident = np.zeros((7, 7))
    ident[3, 3] = 1.0
    for scale in (0.01, 0.05, 0.15):  # identity + small perturbation, unit sum
        delta = rng.normal(0.0, scale, (7, 7))
        out.append((ident + delta - delta.mean(), float(rng.uniform(0, 1))))
    g = np.exp(-np.arange(-3, 4) ** 2 / (2 * 1.1 ** 2))
    blur = np.outer(g, g) / np.outer(g, g).sum()
    out.append((blur, float(rng.uniform(0, 1))))  # blur
    out.append((2 * ident - blur, float(rng.uniform(0, 1))))  # unsharp-mask style sharpening
    out.append((2 * ident - blur, 1.0))
    return out


@pytest.mark.parametrize("bit_depth", [8, 10])
def test_linear_deploy_matches_ffmpeg(clips, bit_depth):
    x = clips[bit_depth]
    for kernel, alpha in random_kernels(seed=bit_depth):
        export = linear_to_ffmpeg(kernel, alpha)
        assert_identical(ffmpeg_convolution(x, export, bit_depth),
                         ffmpeg_filter_frames(x, export.filter, bit_depth))


@pytest.mark.parametrize("bit_depth", [8, 10])
def test_linear_module_deploy_matches_ffmpeg_640x360(big_clips, bit_depth):
    x = big_clips[bit_depth]
    torch.manual_seed(bit_depth)
    module = LinearPrefilter(7)
    with torch.no_grad():
        module.weight += 0.04 * torch.randn(7, 7)
    module.alpha = 0.8
    theirs = ffmpeg_filter_frames(x, module.ffmpeg_filter(), bit_depth)
    assert_identical(module.deploy(x, bit_depth), theirs)


def test_linear_export_taps():
    rng = np.random.default_rng(7)
    kernel = np.zeros((7, 7))
    kernel[3, 3] = 1.0
    delta = rng.normal(0, 0.05, (7, 7))
    kernel += delta - delta.mean()
    export = linear_to_ffmpeg(kernel, 0.6)
    assert export.taps.dtype == np.int64 and export.bias == 0.0
    assert export.taps.sum() * export.rdiv == 1.0  # mean preserved exactly
    assert 1023 * np.abs(export.taps).sum() <= INT32_MAX  # no int overflow at 10 bit
    assert export.tap_error < 1e-5 and export.pixel_error < 0.01
    assert np.abs(export.kernel - export.taps * export.rdiv).max() == pytest.approx(export.tap_error)
    assert export.filter.startswith("convolution=0m='") and "1m='0 0 0 0 1 0 0 0 0'" in export.filter


def test_linear_export_trims_and_rejects_sizes():
    small = np.zeros((9, 9))
    small[4, 4], small[4, 5] = 0.75, 0.25
    assert linear_to_ffmpeg(small).taps.shape == (3, 3)
    small[0, 0] = 0.1
    with pytest.raises(FilteroptError):
        linear_to_ffmpeg(small)
    with pytest.raises(FilteroptError):
        LinearPrefilter(9)


@pytest.mark.parametrize("bit_depth", [8, 10])
def test_alpha_zero_is_bit_exact_identity(clips, bit_depth):
    x = clips[bit_depth]
    module = LinearPrefilter(7, alpha=0.0)
    with torch.no_grad():
        module.weight += 0.1 * torch.randn(7, 7)
    assert module.ffmpeg_filter() == linear_to_ffmpeg(np.eye(3), 0.0).filter
    assert torch.equal(module(x), x)
    assert torch.equal(module.deploy(x, bit_depth), x)
    assert torch.equal(ffmpeg_filter_frames(x, module.ffmpeg_filter(), bit_depth), x)
    unsharp = UnsharpPrefilter(5, 0.0)
    assert torch.equal(unsharp(x), x)
    assert torch.equal(unsharp.deploy(x, bit_depth), x)
    assert torch.equal(ffmpeg_filter_frames(x, unsharp.ffmpeg_filter(), bit_depth), x)


@pytest.mark.parametrize("bit_depth", [8, 10])
def test_linear_forward_matches_deploy(clips, bit_depth):
    x = clips[bit_depth].double()
    peak = (1 << bit_depth) - 1
    for kernel, alpha in random_kernels(seed=20 + bit_depth)[3:]:
        module = LinearPrefilter(7, mean_preserving=False, alpha=alpha)
        with torch.no_grad():
            module.weight.copy_(torch.from_numpy(kernel))
        export = module.export()
        step = export.passes[0]
        before_rounding = convolution_sum(x.to(torch.int64), step).double() * step.rdiv
        bound = export.pixel_error * peak / 255 + 1e-6  # pixel_error is in 8-bit codes
        assert (module(x) - before_rounding).abs().max().item() <= bound
        deployed = module.deploy(x, bit_depth)
        inside = (before_rounding > 0.5) & (before_rounding < peak - 0.5)
        assert (module(x) - deployed)[inside].abs().max().item() <= 0.5 + bound


def test_linear_gradients_flow(clips):
    x = clips[8][:1].clone().requires_grad_(True)
    for mean_preserving in (True, False):
        module = LinearPrefilter(7, mean_preserving=mean_preserving, alpha=0.7)
        loss = (module(x) - 128.0).pow(2).mean()
        loss.backward()
        assert torch.isfinite(module.weight.grad).all() and module.weight.grad.abs().sum() > 0
        if mean_preserving:
            assert abs(module.weight.grad.sum().item()) < 1e-3 * module.weight.grad.abs().sum().item()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert LinearPrefilter(5)(x.detach().double()).dtype == torch.float64


@pytest.mark.parametrize("bit_depth", [8, 10])
def test_separable_export_is_exact(clips, bit_depth):
    x = clips[bit_depth]
    row = np.array([0.02, -0.06, -0.12, 1.32, -0.12, -0.06, 0.02])
    export = linear_to_ffmpeg(np.outer(row, row), 1.0, separable=True)
    assert export.separable and len(export.passes) == 2 and "0mode=row" in export.filter
    theirs = ffmpeg_filter_frames(x, export.filter, bit_depth)
    assert_identical(ffmpeg_convolution(x, export, bit_depth), theirs)
    with pytest.raises(FilteroptError):
        linear_to_ffmpeg(np.outer(row, row), 0.5, separable=True)  # identity blend is not rank 1


@pytest.mark.parametrize("bit_depth", [8, 10])
@pytest.mark.parametrize("size", [3, 5, 7, 9, 11, 13])
def test_unsharp_deploy_matches_ffmpeg(clips, size, bit_depth):
    x = clips[bit_depth][::2]
    for amount in UNSHARP_AMOUNTS:
        module = UnsharpPrefilter(size, amount)
        theirs = ffmpeg_filter_frames(x, module.ffmpeg_filter(), bit_depth)
        assert_identical(module.deploy(x, bit_depth), theirs)


def test_unsharp_amount_off_grid_and_truncation(clips):
    # ffmpeg truncates float32(amount) * 65536; the emulation follows it for any option value
    x = clips[8][:1]
    for amount in (0.1, -0.3, 1 / 3, 4.99999):
        vf = f"unsharp=luma_msize_x=5:luma_msize_y=5:luma_amount={amount!r}"
        assert_identical(ffmpeg_unsharp(x, 5, amount, 8), ffmpeg_filter_frames(x, vf, 8))


@pytest.mark.parametrize("bit_depth", [8, 10])
def test_unsharp_640x360(big_clips, bit_depth):
    x = big_clips[bit_depth]
    for size, amount in ((7, 1.5), (11, -1.2)):
        module = UnsharpPrefilter(size, amount)
        theirs = ffmpeg_filter_frames(x, module.ffmpeg_filter(), bit_depth)
        assert_identical(module.deploy(x, bit_depth), theirs)


@pytest.mark.parametrize("bit_depth", [8, 10])
def test_unsharp_forward_matches_deploy(clips, bit_depth):
    x = clips[bit_depth].double()
    peak = (1 << bit_depth) - 1
    for size in (3, 7, 11):
        for amount in (-2.0, 0.6, 5.0):
            module = UnsharpPrefilter(size, amount)
            smooth = module(x).detach()
            inside = (smooth > 2.0) & (smooth < peak - 2.0)
            # deploy rounds the blur (error <= |a|/2 after scaling) and floors the correction
            gap = (smooth - module.deploy(x, bit_depth))[inside].abs().max().item()
            assert gap <= 0.5 * abs(amount) + 1.0 + 1e-6


def test_unsharp_gradients_and_limits(clips):
    x = clips[8][:1].clone().requires_grad_(True)
    module = UnsharpPrefilter(5, 0.8)
    module(x).pow(2).mean().backward()
    assert module.amount.grad is not None and module.amount.grad.abs() > 0
    assert x.grad.abs().sum() > 0
    for bad in (1, 4, 15, 23):
        with pytest.raises(FilteroptError):
            UnsharpPrefilter(bad, 1.0)
    with pytest.raises(FilteroptError):
        UnsharpPrefilter(5, 5.5)
    with pytest.raises(FilteroptError):  # ffmpeg itself refuses 15x15 (sums would need > 25 bits)
        ffmpeg_filter_frames(x.detach(), "unsharp=luma_msize_x=15:luma_msize_y=15:luma_amount=1", 8)
    assert unsharp_overflows(13, 10) and not unsharp_overflows(13, 8) and not unsharp_overflows(11, 10)
    with pytest.raises(FilteroptError):
        unsharp_to_ffmpeg(13, 1.0, bit_depth=10)
    expected = "unsharp=luma_msize_x=7:luma_msize_y=7:luma_amount=1.25:chroma_amount=0"
    assert unsharp_to_ffmpeg(7, 1.25) == expected


@pytest.mark.parametrize("pix_fmt,dtype", [("yuv420p", np.uint8), ("yuv444p10le", np.dtype("<u2"))])
def test_chroma_untouched(pix_fmt, dtype):
    w, h = 64, 48
    rng = np.random.default_rng(3)
    peak = 255 if dtype == np.uint8 else 1023
    luma = rng.integers(0, peak + 1, (h, w)).astype(dtype)
    cw, ch = (w // 2, h // 2) if pix_fmt == "yuv420p" else (w, h)
    chroma = rng.integers(0, peak + 1, (2, ch, cw)).astype(dtype)
    raw = luma.tobytes() + chroma.tobytes()
    kernel = np.zeros((5, 5))
    kernel[2, 2], kernel[1, 2], kernel[2, 3] = 1.4, -0.2, -0.2
    for vf in (linear_to_ffmpeg(kernel, 0.9).filter, unsharp_to_ffmpeg(5, 2.0)):
        out = run_ffmpeg(["-f", "rawvideo", "-pix_fmt", pix_fmt, "-s", f"{w}x{h}", "-i", "-", "-vf", vf,
                          "-f", "rawvideo", "-pix_fmt", pix_fmt, "-"], input=raw).stdout
        assert out[len(luma.tobytes()):] == chroma.tobytes()
        assert out[:len(luma.tobytes())] != luma.tobytes()
