"""Integer VIF and motion against libvmaf's default (fixed-point) extractors, run live."""

from __future__ import annotations

import pytest
import torch

from filteropt.datasets.sample import gaussian_noise, pan_clip
from filteropt.media import libvmaf_on_tensors
from filteropt.media.transform import ffmpeg_filter_frames
from filteropt.vmaf.integer_motion import integer_motion_features
from filteropt.vmaf.integer_vif import bit_length, integer_vif_features, log2_fixed, log2_table

VIF_KEYS = tuple(f"vif_scale{s}" for s in range(4))


def assert_same_as_log(ours: torch.Tensor, logged: torch.Tensor) -> None:
    """Equal to libvmaf's log as printed (6 decimals, as C's printf rounds)."""
    printed = [float(f"{v:.6f}") for v in ours.tolist()]
    assert printed == logged.tolist(), (ours.tolist(), logged.tolist())


@pytest.mark.parametrize("width,height,bit_depth,distortion,model", [
    (161, 91, 8, "noise", "vmaf_v0.6.1"),
    (97, 55, 10, "noise", "vmaf_v0.6.1"),
    (160, 90, 8, "unsharp=5:5:1.5", "vmaf_v0.6.1"),
    (120, 68, 10, "unsharp=5:5:2.0", "vmaf_v0.6.1"),
    (161, 91, 8, "unsharp=5:5:1.5", "vmaf_v0.6.1neg"),
    (128, 72, 8, "gblur=sigma=1.2", "vmaf_v0.6.1"),
])
def test_integer_vif_and_motion_match_libvmaf(width, height, bit_depth, distortion, model):
    ref = pan_clip("astronaut", width, height, 3, velocity=(0.9, -0.4), zoom_per_frame=0.003,
                   bit_depth=bit_depth).double()
    if distortion == "noise":
        dis = gaussian_noise(ref, bit_depth, seed=7)
    else:
        dis = ffmpeg_filter_frames(ref, distortion, bit_depth).double()
    lib = libvmaf_on_tensors(ref, dis, model, clip=False, bit_depth=bit_depth)
    gain_limit = 1.0 if model.endswith("neg") else 100.0
    ours = integer_vif_features(ref, dis, bit_depth, gain_limit)
    for key in VIF_KEYS:
        assert_same_as_log(ours[key], lib.column(key))
    motion = integer_motion_features(ref, bit_depth)
    assert lib.column("motion2")[1:].min() > 0.5  # real motion
    assert_same_as_log(motion["motion2"], lib.column("motion2"))


def test_gain_limit_only_lowers_scores_of_sharpened_content():
    ref = pan_clip("camera", 96, 64, 1).double()
    dis = ffmpeg_filter_frames(ref, "unsharp=5:5:2.0").double()
    plain = integer_vif_features(ref, dis)
    neg = integer_vif_features(ref, dis, enhn_gain_limit=1.0)
    assert all(neg[k].item() <= plain[k].item() for k in VIF_KEYS)
    assert neg["vif_scale0"].item() < plain["vif_scale0"].item() - 0.01


def test_motion_rules():
    clip = pan_clip("coffee", 64, 48, 4, velocity=(1.0, 0.5))
    m = integer_motion_features(clip)
    assert m["motion"][0].item() == 0.0 and m["motion2"][0].item() == 0.0
    assert torch.equal(m["motion2"][1:-1], torch.minimum(m["motion"][1:-1], m["motion"][2:]))
    assert m["motion2"][-1].item() == m["motion"][-1].item()
    assert integer_motion_features(clip[:1])["motion2"].tolist() == [0.0]


def test_log2_table_and_lookup():
    table = log2_table(torch.device("cpu"))
    assert table[32768].item() == 15 * 2048 and table[65535].item() == 16 * 2048
    v = torch.tensor([1 << 17, (1 << 17) + 12345, (1 << 40) + 3, (1 << 44) - 1])
    assert bit_length(v).tolist() == [18, 18, 41, 44]
    exact = torch.log2(v.double()) * 2048
    assert (log2_fixed(v, table).double() - exact).abs().max().item() < 1.0
