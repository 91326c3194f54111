"""The SVR read from the model JSON reproduces libvmaf's score from libvmaf's own features."""

from __future__ import annotations

import pytest
import torch

from filteropt.errors import FilteroptError
from filteropt.media import libvmaf_on_tensors
from filteropt.media.transform import ffmpeg_filter_frames
from filteropt.vmaf.svm import FEATURE_NAMES, SvrModel


@pytest.fixture(scope="module")
def distorted(small_clip):
    """Sharpened (VMAF above 100 unclipped) and blurred versions of the small clip."""
    return {
        "sharpen": ffmpeg_filter_frames(small_clip, "unsharp=5:5:1.5"),
        "blur": ffmpeg_filter_frames(small_clip, "gblur=sigma=1.2"),
    }


@pytest.mark.parametrize("model", ["vmaf_v0.6.1", "vmaf_v0.6.1neg", "vmaf_4k_v0.6.1", "vmaf_float_v0.6.1"])
@pytest.mark.parametrize("kind", ["sharpen", "blur"])
def test_svr_reproduces_libvmaf_from_its_features(small_clip, distorted, model, kind):
    lib = libvmaf_on_tensors(small_clip, distorted[kind], model, clip=False)
    svr = SvrModel(model)
    features = {name: lib.column(name) for name in FEATURE_NAMES}
    ours = svr(features)
    # libvmaf logs features with 6 decimals; the score moves < 2e-3 per 1e-6 of a feature
    assert torch.allclose(ours, lib.column("vmaf"), atol=2e-3, rtol=0)
    if kind == "sharpen" and model != "vmaf_v0.6.1neg":
        assert lib.column("vmaf").max() > 100  # unclipped scores above 100 are reproduced too


def test_neg_model_gain_limits():
    assert SvrModel("vmaf_v0.6.1neg").feature_options.adm_enhn_gain_limit == 1.0
    assert SvrModel("vmaf_v0.6.1neg").feature_options.vif_enhn_gain_limit == 1.0
    assert SvrModel("vmaf_v0.6.1").feature_options.vif_enhn_gain_limit == 100.0


def test_clip_and_unknown_model():
    svr = SvrModel("vmaf_v0.6.1")
    assert svr.clip(torch.tensor([-3.0, 50.0, 120.0])).tolist() == [0.0, 50.0, 100.0]
    with pytest.raises(FilteroptError, match="unknown VMAF model"):
        SvrModel("vmaf_v9")
