"""The differentiable VMAF: features (VIF, ADM, motion) + the model's SVR, as a function and a module."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from types import ModuleType

import torch
from torch import nn

from filteropt.errors import FilteroptError
from filteropt.vmaf.adm import MIN_SIZE as ADM_MIN_SIZE
from filteropt.vmaf.adm import adm_features, adm_features_from_totals
from filteropt.vmaf.integer_adm import integer_adm_features
from filteropt.vmaf.integer_motion import integer_motion_features
from filteropt.vmaf.integer_vif import integer_vif_features
from filteropt.vmaf.motion import motion_features
from filteropt.vmaf.svm import SvrModel
from filteropt.vmaf.vif import MIN_SIZE as VIF_MIN_SIZE
from filteropt.vmaf.vif import vif_features, vif_features_from_sums

# "float": libvmaf's float extractors (smooth, the training default); "exact": libvmaf's default
# integer extractors in the forward pass, the float mode's derivatives in the backward pass
MODES = ("float", "exact")

# the smallest frame libvmaf's float extractors accept here (the 4-scale ADM/VIF pyramids need it)
MIN_SIZE = max(ADM_MIN_SIZE, VIF_MIN_SIZE)

# frames are scored in chunks of about this many pixels
CHUNK_PIXELS = 1920 * 1088

# set to "0" to score with PyTorch even where the compiled forward pass applies (e.g. to compare)
NUMBA_ENV = "FILTEROPT_NUMBA"


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


def check_mode(mode: str) -> None:
    """Raise a clear error unless `mode` is one of MODES."""
    if mode not in MODES:
        raise FilteroptError(f"unknown VMAF mode {mode!r}; use one of {', '.join(MODES)}")


def _straight_through(exact: torch.Tensor, smooth: torch.Tensor) -> torch.Tensor:
    """`exact` in the forward pass, the gradient of `smooth` in the backward pass."""
    return smooth + (exact.to(smooth.dtype) - smooth).detach()


def motion_features_for(ref: torch.Tensor, bit_depth: int = 8, mode: str = "float") -> dict[str, torch.Tensor]:
    """{'motion', 'motion2'} [N] of reference code values, by libvmaf's float or integer extractor."""
    if mode == "exact":
        exact = integer_motion_features(ref, bit_depth)
        return {k: v.to(ref.dtype) for k, v in exact.items()}
    return motion_features(ref if bit_depth == 8 else ref / 4.0)


@functools.cache
def _numba_forward() -> ModuleType | None:
    """The compiled forward pass, imported on first use (numba takes a while); None without numba."""
    try:
        from filteropt.vmaf import numba_forward
    except ImportError:  # pragma: no cover - numba is a dependency
        return None
    return numba_forward


def uses_numba(ref: torch.Tensor, dis: torch.Tensor, mode: str = "float") -> bool:
    """Whether float features of these frames come from the compiled forward pass (`numba_forward`).

    It applies to float32 CPU frames in float mode when no gradient will be asked for (under
    `torch.no_grad()` or for inputs that do not require grad), unless FILTEROPT_NUMBA=0.
    """
    needs_grad = torch.is_grad_enabled() and (ref.requires_grad or dis.requires_grad)
    return (mode == "float" and not needs_grad and ref.device.type == "cpu" and ref.dtype == torch.float32
            and dis.dtype == torch.float32 and os.environ.get(NUMBA_ENV) != "0" and _numba_forward() is not None)


def frame_features(ref: torch.Tensor, dis: torch.Tensor, bit_depth: int = 8,
                   adm_enhn_gain_limit: float = 100.0, vif_enhn_gain_limit: float = 100.0,
                   mode: str = "float") -> dict[str, torch.Tensor]:
    """The per-frame features (adm2, adm_scale0..3, vif_scale0..3), each [N]; no motion.

    `ref`, `dis`: luma code values [N,1,H,W]. Float mode divides 10-bit values by 4, as libvmaf
    does for its float features. Exact mode rounds frames to codes and reproduces libvmaf's
    integer extractors in the forward pass, with the float mode's gradients.
    """
    check_frames(ref, dis)
    if bit_depth not in (8, 10):
        raise FilteroptError(f"unsupported bit depth {bit_depth}; use 8 or 10")
    check_mode(mode)
    ref8, dis8 = (ref, dis) if bit_depth == 8 else (ref / 4.0, dis / 4.0)
    if uses_numba(ref, dis, mode):
        vif_num, vif_den, adm_num, adm_den = _numba_forward().frame_sums(ref8, dis8, adm_enhn_gain_limit,
                                                                         vif_enhn_gain_limit)
        height, width = ref.shape[-2:]
        features = adm_features_from_totals(adm_num, adm_den, height, width, ref.dtype)
        features.update(vif_features_from_sums(vif_num, vif_den, ref.dtype))
        return features
    # a few frames at a time (about one 1080p frame of pixels): faster on CPU caches, less memory
    step = max(1, CHUNK_PIXELS // (ref.shape[-1] * ref.shape[-2]))
    parts = []
    for start in range(0, ref.shape[0], step):
        r, d = ref8[start:start + step], dis8[start:start + step]
        part = dict(adm_features(r, d, enhn_gain_limit=adm_enhn_gain_limit))
        part.update(vif_features(r, d, enhn_gain_limit=vif_enhn_gain_limit))
        parts.append(part)
    features = {k: torch.cat([p[k] for p in parts]) for k in parts[0]}
    if mode == "exact":
        peak = (1 << bit_depth) - 1
        ref_codes, dis_codes = ref.detach().round().clamp(0, peak), dis.detach().round().clamp(0, peak)
        exact = integer_adm_features(ref_codes, dis_codes, bit_depth, adm_enhn_gain_limit)
        exact.update(integer_vif_features(ref_codes, dis_codes, bit_depth, vif_enhn_gain_limit))
        features = {k: _straight_through(exact[k], v) for k, v in features.items()}
    return features


def vmaf_features(ref: torch.Tensor, dis: torch.Tensor, bit_depth: int = 8,
                  adm_enhn_gain_limit: float = 100.0, vif_enhn_gain_limit: float = 100.0,
                  mode: str = "float") -> dict[str, torch.Tensor]:
    """All VMAF features of a clip: adm2, adm_scale0..3, motion, motion2, vif_scale0..3, each [N].

    `ref`, `dis`: luma code values [N,1,H,W], frames in order (motion uses the reference only).
    """
    features = frame_features(ref, dis, bit_depth, adm_enhn_gain_limit, vif_enhn_gain_limit, mode)
    features.update(motion_features_for(ref, bit_depth, mode))
    return features


class VMAF(nn.Module):
    """Differentiable VMAF of `dis` against `ref`, matching libvmaf's float feature extractors.

    `model`: vmaf_v0.6.1 (default), vmaf_v0.6.1neg (enhancement gain limits of 1) or
    vmaf_4k_v0.6.1, or a model JSON path. `clip`: clip scores to [0, 100] as libvmaf does by
    default; off by default, the training setting. `mode`: "float" (libvmaf's float extractors,
    the default) or "exact" (libvmaf's default integer path forward, float gradients backward).
    Input frames are luma code values, [N,1,H,W] for one clip or [B,N,1,H,W] for B clips, on any
    device, float32 or float64. Where no gradient can be asked for (under `torch.no_grad()`, or
    inputs that do not require grad), float32 CPU frames in float mode are scored by a compiled
    forward pass (`numba_forward`: several times faster, and in libvmaf's own float32 arithmetic
    order, so its VIF is closer to libvmaf's than the PyTorch path's, by up to ~3e-5).
    """

    def __init__(self, model: str = "vmaf_v0.6.1", clip: bool = False, bit_depth: int = 8,
                 mode: str = "float"):
        super().__init__()
        check_mode(mode)
        self.svr = SvrModel(model)
        self.clip = clip
        self.bit_depth = bit_depth
        self.mode = mode

    @property
    def model_name(self) -> str:
        return self.svr.name

    def features(self, ref: torch.Tensor, dis: torch.Tensor) -> dict[str, torch.Tensor]:
        """The features this model uses (and the ADM scales and raw motion), each [N] or [B,N]."""
        check_frames(ref, dis)
        if ref.dim() == 5:
            per_clip = [self.features(r, d) for r, d in zip(ref, dis)]
            return {k: torch.stack([f[k] for f in per_clip]) for k in per_clip[0]}
        return {**self.frame_features(ref, dis), **motion_features_for(ref, self.bit_depth, self.mode)}

    def frame_features(self, ref: torch.Tensor, dis: torch.Tensor) -> dict[str, torch.Tensor]:
        """ADM and VIF features of frames [N,1,H,W] with this model's options; no motion."""
        opts = self.svr.feature_options
        return frame_features(ref, dis, self.bit_depth, opts.adm_enhn_gain_limit, opts.vif_enhn_gain_limit,
                              self.mode)

    def forward(self, ref: torch.Tensor, dis: torch.Tensor) -> VmafResult:
        features = self.features(ref, dis)
        scores = self.svr(features)
        if self.clip:
            scores = self.svr.clip(scores)
        return VmafResult(scores, features)


def vmaf(ref: torch.Tensor, dis: torch.Tensor, model: str = "vmaf_v0.6.1", clip: bool = False,
         bit_depth: int = 8, mode: str = "float") -> VmafResult:
    """Functional form of :class:`VMAF` (loads the model each call; keep a module for training)."""
    return VMAF(model, clip, bit_depth, mode).to(ref.device)(ref, dis)
