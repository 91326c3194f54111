"""Integer ADM against libvmaf's default (fixed-point) extractor, run live."""

from __future__ import annotations

import pytest
import torch

from filteropt.datasets.sample import gaussian_noise, pan_clip
from filteropt.media import libvmaf_on_tensors
from filteropt.media.transform import ffmpeg_filter_frames
from filteropt.vmaf.integer_adm import integer_adm_features

ADM_KEYS = ("adm2", "adm_scale0", "adm_scale1", "adm_scale2", "adm_scale3")


def assert_same_as_log(ours: torch.Tensor, logged: torch.Tensor) -> None:
    """Equal to libvmaf's log as printed: 6 decimals (as C's printf rounds), or bit-identical
    where the log prints a value in full precision (it does for some values near 1)."""
    for v, ref in zip(ours.tolist(), logged.tolist()):
        if float(f"{ref:.6f}") == ref:
            assert float(f"{v:.6f}") == ref, (ours.tolist(), logged.tolist())
        else:
            assert v == ref, (ours.tolist(), logged.tolist())


# odd sizes, 8 and 10 bit, sharpening (enhancement gain), NEG; 130 and 129 wide hit libvmaf's
# vectorised right-edge behaviour of the scale-0 DWT (ceil(W/2) - 1 = 64)
@pytest.mark.parametrize("width,height,bit_depth,distortion,model", [
    (161, 91, 8, "unsharp=5:5:1.5", "vmaf_v0.6.1"),
    (161, 91, 8, "unsharp=5:5:1.5", "vmaf_v0.6.1neg"),
    (128, 72, 10, "noise", "vmaf_v0.6.1"),
    (130, 74, 8, "gblur=sigma=1.0", "vmaf_v0.6.1"),
    (129, 73, 10, "unsharp=5:5:1.0", "vmaf_v0.6.1"),
])
def test_integer_adm_matches_libvmaf(width, height, bit_depth, distortion, model):
    ref = pan_clip("coffee", width, height, 2, velocity=(0.7, -0.4), bit_depth=bit_depth).double()
    if distortion == "noise":
        dis = gaussian_noise(ref, bit_depth, seed=7)
    else:
        dis = ffmpeg_filter_frames(ref, distortion, bit_depth).double()
    lib = libvmaf_on_tensors(ref, dis, model, clip=False, bit_depth=bit_depth)
    ours = integer_adm_features(ref, dis, bit_depth, 1.0 if model.endswith("neg") else 100.0)
    for key in ADM_KEYS:
        assert ours[key].dtype == torch.float64 and ours[key].shape == (2,)
        assert_same_as_log(ours[key], lib.column(key))
    if distortion.startswith("unsharp=5:5:1.5") and not model.endswith("neg"):
        assert ours["adm2"].min() > 1.0  # the enhancement gain is exercised


def test_integer_adm_extreme_content_matches_libvmaf():
    """Independent full-range noise: saturating fixed-point terms (int16 wraps) take part."""
    gen = torch.Generator().manual_seed(1)
    ref = torch.randint(0, 256, (1, 1, 97, 163), generator=gen)
    dis = torch.randint(0, 256, (1, 1, 97, 163), generator=gen)
    lib = libvmaf_on_tensors(ref.double(), dis.double(), "vmaf_v0.6.1", clip=False)
    ours = integer_adm_features(ref, dis)
    for key in ADM_KEYS:
        assert_same_as_log(ours[key], lib.column(key))


def test_input_dtypes_agree_and_identical_frames_score_one():
    ref = pan_clip("camera", 96, 64, 1)
    dis = ffmpeg_filter_frames(ref, "gblur=sigma=1.0")
    as_int = integer_adm_features(ref.to(torch.int16), dis.to(torch.int16))
    as_float = integer_adm_features(ref.float(), dis.float())
    for key in ADM_KEYS:
        assert torch.equal(as_int[key], as_float[key])
    same = integer_adm_features(ref, ref)  # fixed-point rounding keeps these a hair above 1, as in libvmaf
    assert all(0 <= same[key].item() - 1.0 < 1e-4 for key in ADM_KEYS)
