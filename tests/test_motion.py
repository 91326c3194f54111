"""Motion against libvmaf's float motion extractor, run live."""

from __future__ import annotations

import pytest
import torch

from filteropt.datasets.sample import pan_clip
from filteropt.media import libvmaf_on_tensors
from filteropt.vmaf.motion import motion2_from_motion, motion_features


@pytest.mark.parametrize("width,height,bit_depth", [(161, 91, 8), (320, 180, 8), (97, 55, 10)])
def test_motion2_matches_libvmaf(width, height, bit_depth):
    clip = pan_clip("chelsea", width, height, 5, velocity=(0.8, -0.45), zoom_per_frame=0.004,
                    bit_depth=bit_depth)
    ours = motion_features(clip / (1 << (bit_depth - 8)))
    lib = libvmaf_on_tensors(clip, clip, "vmaf_float_v0.6.1", clip=False, bit_depth=bit_depth)
    assert lib.column("motion2")[1:].min() > 0.5  # real motion
    assert torch.allclose(ours["motion2"].double(), lib.column("motion2"), atol=1e-4, rtol=0)
    assert torch.allclose(ours["motion"].double(), lib.column("motion"), atol=1e-4, rtol=0)


def test_motion2_rules():
    motion = torch.tensor([0.0, 3.0, 1.0, 2.0])
    assert motion2_from_motion(motion).tolist() == [0.0, 1.0, 1.0, 2.0]
    assert motion2_from_motion(torch.tensor([0.0])).tolist() == [0.0]


def test_motion_in_float64_and_float32_agree(small_clip):
    m32 = motion_features(small_clip)["motion"]
    m64 = motion_features(small_clip.double())["motion"]
    assert torch.allclose(m32.double(), m64, atol=1e-5)
