"""Exact mode: libvmaf's default (integer) scores forward, the float mode's gradients backward."""

from __future__ import annotations

import pytest
import torch

from filteropt.datasets.sample import pan_clip
from filteropt.media import libvmaf_on_tensors
from filteropt.media.transform import ffmpeg_filter_frames
from filteropt.vmaf import VMAF


@pytest.fixture(scope="module", params=[(161, 91, 8, "unsharp=5:5:1.5"), (128, 72, 10, "gblur=sigma=1")],
                ids=["8bit-odd-sharpened", "10bit-blurred"])
def pair(request):
    width, height, bit_depth, vf = request.param
    ref = pan_clip("chelsea", width, height, 4, velocity=(0.6, 0.3), bit_depth=bit_depth)
    return ref, ffmpeg_filter_frames(ref, vf, bit_depth), bit_depth


@pytest.mark.parametrize("model", ["vmaf_v0.6.1", "vmaf_v0.6.1neg", "vmaf_4k_v0.6.1"])
def test_exact_scores_match_libvmaf_default_path(pair, model):
    ref, dis, bit_depth = pair
    lib = libvmaf_on_tensors(ref, dis, model, clip=False, bit_depth=bit_depth)
    with torch.no_grad():
        ours = VMAF(model, bit_depth=bit_depth, mode="exact")(ref.double(), dis.double())
    for name in ("adm2", "motion2", "vif_scale0", "vif_scale1", "vif_scale2", "vif_scale3"):
        assert (ours.features[name] - lib.column(name)).abs().max() <= 1e-6, name  # printed precision
    assert (ours.scores - lib.column("vmaf")).abs().max() <= 1e-3


def test_exact_gradients_follow_float_mode(pair):
    ref, dis, bit_depth = pair
    grads = []
    for mode in ("exact", "float"):
        d = dis.double().requires_grad_()
        VMAF(bit_depth=bit_depth, mode=mode)(ref.double(), d).scores.sum().backward()
        assert torch.isfinite(d.grad).all()
        grads.append(d.grad)
    assert (grads[0] - grads[1]).norm() <= 0.01 * grads[1].norm()
