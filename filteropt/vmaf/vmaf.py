"""The differentiable VMAF: features (VIF, ADM, motion) + the model's SVR, as a function and a module."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from filteropt.errors import FilteroptError
from filteropt.vmaf.adm import adm_features
from filteropt.vmaf.motion import motion_features
from filteropt.vmaf.svm import SvrModel
from filteropt.vmaf.vif import vif_features

# the smallest frame libvmaf's float extractors accept here (the 4-scale ADM/VIF pyramids need it)
MIN_SIZE = 32


@dataclass
class VmafResult:
    """Per-frame `scores` [N] (or [B,N]), `features` named like libvmaf's log, and `pooled` (mean)."""

    scores: torch.Tensor
    features: dict[str, torch.Tensor]

    @property
    def pooled(self) -> torch.Tensor:
        """Mean of the per-frame scores (per clip for [B,N] scores)."""
        return self.scores.mean(dim=-1)


def check_frames(ref: torch.Tensor, dis: torch.Tensor) -> None:
    """Raise a clear error unless ref and dis are like-for-like clips [N,1,H,W] or [B,N,1,H,W]."""
    if ref.shape != dis.shape:
        raise FilteroptError(
            f"reference and distorted differ in shape ({tuple(ref.shape)} vs {tuple(dis.shape)}); "
            "compare the same frames at the same size"
        )
    if ref.dim() not in (4, 5) or ref.shape[-3] != 1:
        raise FilteroptError(f"expected luma frames [N,1,H,W] or [B,N,1,H,W], got {tuple(ref.shape)}")
    if ref.shape[-1] < MIN_SIZE or ref.shape[-2] < MIN_SIZE:
        raise FilteroptError(
            f"frames of {ref.shape[-1]}x{ref.shape[-2]} are too small for VMAF; "
            f"use at least {MIN_SIZE}x{MIN_SIZE}"
        )


def vmaf_features(ref: torch.Tensor, dis: torch.Tensor, bit_depth: int = 8,
                  adm_enhn_gain_limit: float = 100.0, vif_enhn_gain_limit: float = 100.0,
                  ) -> dict[str, torch.Tensor]:
    """All VMAF features of a clip: adm2, adm_scale0..3, motion, motion2, vif_scale0..3, each [N].

    `ref`, `dis`: luma code values [N,1,H,W], frames in order (motion uses the reference only).
    10-bit values are divided by 4, as libvmaf does for its float features.
    """
    check_frames(ref, dis)
    if bit_depth not in (8, 10):
        raise FilteroptError(f"unsupported bit depth {bit_depth}; use 8 or 10")
    if bit_depth != 8:
        scale = float(1 << (bit_depth - 8))
        ref, dis = ref / scale, dis / scale
    features = dict(adm_features(ref, dis, enhn_gain_limit=adm_enhn_gain_limit))
    features.update(vif_features(ref, dis, enhn_gain_limit=vif_enhn_gain_limit))
    features.update(motion_features(ref))
    return features


class VMAF(nn.Module):
    """Differentiable VMAF of `dis` against `ref`, matching libvmaf's float feature extractors.

    `model`: vmaf_v0.6.1 (default), vmaf_v0.6.1neg (enhancement gain limits of 1) or
    vmaf_4k_v0.6.1, or a model JSON path. `clip`: clip scores to [0, 100] as libvmaf does by
    default; off by default, the training setting. Input frames are luma code values,
    [N,1,H,W] for one clip or [B,N,1,H,W] for B clips, on any device, float32 or float64.
    """

    def __init__(self, model: str = "vmaf_v0.6.1", clip: bool = False, bit_depth: int = 8):
        super().__init__()
        self.svr = SvrModel(model)
        self.clip = clip
        self.bit_depth = bit_depth

    @property
    def model_name(self) -> str:
        return self.svr.name

    def features(self, ref: torch.Tensor, dis: torch.Tensor) -> dict[str, torch.Tensor]:
        """The features this model uses (and the ADM scales and raw motion), each [N] or [B,N]."""
        check_frames(ref, dis)
        if ref.dim() == 5:
            per_clip = [self.features(r, d) for r, d in zip(ref, dis)]
            return {k: torch.stack([f[k] for f in per_clip]) for k in per_clip[0]}
        opts = self.svr.feature_options
        return vmaf_features(ref, dis, self.bit_depth, opts.adm_enhn_gain_limit, opts.vif_enhn_gain_limit)

    def forward(self, ref: torch.Tensor, dis: torch.Tensor) -> VmafResult:
        features = self.features(ref, dis)
        scores = self.svr(features)
        if self.clip:
            scores = self.svr.clip(scores)
        return VmafResult(scores, features)


def vmaf(ref: torch.Tensor, dis: torch.Tensor, model: str = "vmaf_v0.6.1", clip: bool = False,
         bit_depth: int = 8) -> VmafResult:
    """Functional form of :class:`VMAF` (loads the model each call; keep a module for training)."""
    return VMAF(model, clip, bit_depth).to(ref.device)(ref, dis)
