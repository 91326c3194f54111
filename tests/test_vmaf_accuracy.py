"""Our VMAF against libvmaf's float feature extractors, run live on natural content, distorted."""

from __future__ import annotations

import pytest
import torch

from filteropt.datasets.sample import gaussian_noise, pan_clip
from filteropt.media import libvmaf_on_tensors
from filteropt.media.transform import ffmpeg_filter_frames, x265_roundtrip
from filteropt.vmaf import VMAF
from filteropt.vmaf.vmaf import uses_numba

VIF_ADM = ("adm2", "adm_scale0", "adm_scale1", "adm_scale2", "adm_scale3",
           "vif_scale0", "vif_scale1", "vif_scale2", "vif_scale3")
NEG_FEATURES = ("float_vif:vif_enhn_gain_limit=1.0", "float_adm:adm_enhn_gain_limit=1.0")

# (photo, width, height, bit depth, distortion): odd sizes, 8 and 10 bit, sharpening above VMAF 100
CASES = [
    ("astronaut", 160, 90, 8, "x265"),
    ("coffee", 161, 91, 8, "unsharp=5:5:0.5"),
    ("chelsea", 161, 91, 8, "unsharp=7:7:2.0"),
    ("rocket", 321, 181, 8, "gblur=sigma=1.5"),
    ("stereo_motorcycle", 199, 113, 8, "noise"),
    ("astronaut", 161, 91, 10, "unsharp=5:5:1.0"),
    ("coffee", 128, 72, 10, "x265"),
]


def _distort(clip: torch.Tensor, kind: str, bit_depth: int) -> torch.Tensor:
    if kind == "x265":
        return x265_roundtrip(clip, bit_depth, crf=38)
    if kind == "noise":
        return gaussian_noise(clip, bit_depth)
    return ffmpeg_filter_frames(clip, kind, bit_depth)


@pytest.fixture(scope="module")
def cases():
    """Every case with libvmaf's float-model log (and its gain-limited features)."""
    out = []
    for photo, width, height, bit_depth, kind in CASES:
        ref = pan_clip(photo, width, height, 4, velocity=(0.55, -0.35), bit_depth=bit_depth)
        dis = _distort(ref, kind, bit_depth)
        lib = libvmaf_on_tensors(ref, dis, "vmaf_float_v0.6.1", clip=False, bit_depth=bit_depth,
                                 features=NEG_FEATURES)
        out.append((ref, dis, bit_depth, kind, lib))
    return out


@pytest.fixture(params=range(len(CASES)), ids=[f"{c[0]}-{c[1]}x{c[2]}-{c[3]}bit-{c[4]}" for c in CASES])
def case(cases, request):
    return cases[request.param]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_mean_score_difference_over_all_cases(cases, dtype):
    """The mean |Δ| target holds over the whole set (tiny frames alone carry libvmaf's float32 noise)."""
    deltas = []
    for ref, dis, bit_depth, _, lib in cases:
        with torch.no_grad():
            ours = VMAF("vmaf_v0.6.1", bit_depth=bit_depth)(ref.to(dtype), dis.to(dtype)).scores
        deltas.append((ours.double() - lib.column("vmaf")).abs())
    assert torch.cat(deltas).mean() <= 5e-4


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_features_and_score_match_libvmaf_float(case, dtype):
    ref, dis, bit_depth, kind, lib = case
    with torch.no_grad():
        ours = VMAF("vmaf_v0.6.1", clip=False, bit_depth=bit_depth)(ref.to(dtype), dis.to(dtype))
    for name in VIF_ADM:
        delta = (ours.features[name].double() - lib.column(name)).abs().max().item()
        assert delta <= 1e-4, (name, delta)
    assert (ours.features["motion2"].double() - lib.column("motion2")).abs().max() <= 1e-3
    score_delta = (ours.scores.double() - lib.column("vmaf")).abs()
    assert score_delta.max() <= 0.005, score_delta
    if kind.startswith("unsharp=7:7:2.0"):
        assert lib.column("vmaf").max() > 100  # strong sharpening goes above 100 unclipped


def test_compiled_forward_reproduces_libvmaf_float_features(case):
    """Without autograd, float32 frames are scored by the compiled pass in libvmaf's own float32
    arithmetic order: its VIF and ADM features equal libvmaf's log to about its six printed decimals."""
    ref, dis, bit_depth, _, lib = case
    with torch.no_grad():
        assert uses_numba(ref, dis)
        ours = VMAF("vmaf_v0.6.1", clip=False, bit_depth=bit_depth)(ref, dis)
        neg = VMAF("vmaf_v0.6.1neg", clip=False, bit_depth=bit_depth)(ref, dis)
    for name in VIF_ADM:
        # the log's rounding to 6 decimals (5e-7), our float32 result's (6e-8) and ADM's pooling,
        # which libvmaf ends in float32 and we in float64
        assert (ours.features[name].double() - lib.column(name)).abs().max() <= 1e-6, name
        assert (neg.features[name].double() - lib.column(f"{name}_egl_1")).abs().max() <= 1e-6, name
    assert (ours.scores.double() - lib.column("vmaf")).abs().max() <= 2e-4


def test_neg_features_match_libvmaf_gain_limited_extractors(case):
    ref, dis, bit_depth, _, lib = case
    with torch.no_grad():
        ours = VMAF("vmaf_v0.6.1neg", clip=False, bit_depth=bit_depth)(ref, dis)
    for name in VIF_ADM:
        delta = (ours.features[name].double() - lib.column(f"{name}_egl_1")).abs().max().item()
        assert delta <= 1e-4, (name, delta)


def test_clip_option(case):
    ref, dis, bit_depth, _, lib = case
    with torch.no_grad():
        clipped = VMAF(clip=True, bit_depth=bit_depth)(ref, dis).scores
    expected = lib.column("vmaf").clamp(0, 100)
    assert (clipped.double() - expected).abs().max() <= 0.005
