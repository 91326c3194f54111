"""The training objective: maximise VMAF(ref = x, dis = f(x)), optionally with an MSE fidelity term."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from filteropt.vmaf.vmaf import frame_features, motion_features_for
from filteropt.vmaf.svm import SvrModel

TRAIN_MODELS = ("vmaf_v0.6.1", "vmaf_v0.6.1neg")


@dataclass
class ObjectiveValue:
    """One evaluation: `loss` (differentiable scalar), and the batch-mean VMAF, MSE and PSNR (floats)."""

    loss: torch.Tensor
    vmaf: float
    mse: float
    psnr: float


def psnr_from_mse(mse: float, bit_depth: int = 8) -> float:
    """PSNR in dB of a mean squared error in code values (libvmaf's cap of 60 dB at 8 bit is not applied)."""
    peak = float((1 << bit_depth) - 1)
    return math.inf if mse <= 0 else 10.0 * math.log10(peak * peak / mse)


class VmafObjective(nn.Module):
    """loss = -mean VMAF + mse_weight * mean squared error (code values of 8-bit scale).

    Scores the middle frame of each crop clip [B,T,1,h,w]: its motion features come from the
    reference clip (they do not depend on the filter), its ADM and VIF from the filtered frame.
    The filtered frame is clipped to the code range, as the deployed filter writes it; the score
    is unclipped unless `clip` (libvmaf clips to [0, 100] by default).
    """

    def __init__(self, model: str = "vmaf_v0.6.1", clip: bool = False, mse_weight: float = 0.0,
                 bit_depth: int = 8) -> None:
        super().__init__()
        self.svr = SvrModel(model)
        self.clip = clip
        self.mse_weight = float(mse_weight)
        self.bit_depth = bit_depth

    def forward(self, clips: torch.Tensor, filtered_middle: torch.Tensor) -> ObjectiveValue:
        """`clips` [B,T,1,h,w] references; `filtered_middle` [B,1,h,w] the filter's output for the middle frames."""
        mid = clips.shape[1] // 2
        ref = clips[:, mid]
        peak = float((1 << self.bit_depth) - 1)
        dis = filtered_middle.clamp(0.0, peak)
        opts = self.svr.feature_options
        features = frame_features(ref, dis, self.bit_depth, opts.adm_enhn_gain_limit, opts.vif_enhn_gain_limit)
        with torch.no_grad():
            motion = [motion_features_for(clip, self.bit_depth) for clip in clips]
        for key in ("motion", "motion2"):
            features[key] = torch.stack([m[key][mid] for m in motion]).to(ref.dtype)
        scores = self.svr(features)
        if self.clip:
            scores = self.svr.clip(scores)
        vmaf = scores.mean()
        scale = float(1 << (self.bit_depth - 8))
        mse = ((dis - ref) / scale).square().mean()
        loss = -vmaf + self.mse_weight * mse if self.mse_weight else -vmaf
        mse_value = float(mse.detach())
        return ObjectiveValue(loss, float(vmaf.detach()), mse_value, psnr_from_mse(mse_value))
