"""Score whole videos with the torch VMAF, optionally next to libvmaf on the same frames."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from tqdm import tqdm

from filteropt.errors import FilteroptError
from filteropt.media import LibvmafResult, LumaVideo, libvmaf_on_tensors, read_luma
from filteropt.vmaf.motion import motion2_from_motion
from filteropt.vmaf.vmaf import VMAF, check_frames, motion_features_for

# the per-frame keys of the JSON report, a stable contract
REPORT_KEYS = ("vmaf", "adm2", "motion2", "vif_scale0", "vif_scale1", "vif_scale2", "vif_scale3")


@dataclass
class VmafReport:
    """Per-frame scores and features of one comparison, ours and optionally libvmaf's."""

    model: str
    clip: bool
    frames: list[dict[str, float]]
    libvmaf: LibvmafResult | None = None
    mode: str = "float"

    @property
    def pooled(self) -> float:
        return sum(f["vmaf"] for f in self.frames) / len(self.frames)

    def to_json(self) -> dict:
        """The report as `{"model", "frames": [...], "pooled": {"vmaf"}, "libvmaf"?: {...}}`."""

        def block(frames: list[dict[str, float]]) -> dict:
            rows = [{k: float(f[k]) for k in REPORT_KEYS} for f in frames]
            return {"model": self.model, "frames": rows,
                    "pooled": {"vmaf": sum(r["vmaf"] for r in rows) / len(rows)}}

        out = block(self.frames)
        out["clip"] = self.clip
        out["mode"] = self.mode
        if self.libvmaf is not None:
            out["libvmaf"] = block(self.libvmaf.frames)
        return out


def load_pair(ref_path: str, dis_path: str, size: str | None = None,
              pix_fmt: str | None = None) -> tuple[LumaVideo, LumaVideo]:
    """Read two videos and check they can be compared frame by frame."""
    ref = read_luma(ref_path, size, pix_fmt)
    dis = read_luma(dis_path, size, pix_fmt)
    if ref.bit_depth != dis.bit_depth:
        raise FilteroptError(
            f"reference is {ref.bit_depth}-bit but distorted is {dis.bit_depth}-bit; compare like for like"
        )
    if ref.frames.shape[0] != dis.frames.shape[0]:
        raise FilteroptError(
            f"reference has {ref.frames.shape[0]} frames but distorted has {dis.frames.shape[0]}; "
            "compare the same frames"
        )
    check_frames(ref.frames, dis.frames)
    return ref, dis


@torch.no_grad()
def score_clip(metric: VMAF, ref: torch.Tensor, dis: torch.Tensor, chunk: int = 2,
               progress: bool = False) -> list[dict[str, float]]:
    """Per-frame features and scores of a whole clip, computed `chunk` frames at a time.

    Frames may be float code values or integer tensors (uint8/int16 codes, a quarter of the memory).
    """
    check_frames(ref, dis)
    device = next(metric.buffers()).device
    n = ref.shape[0]
    parts: list[dict[str, torch.Tensor]] = []
    motion = []
    def part(x: torch.Tensor, lo: int, hi: int) -> torch.Tensor:  # integer code frames become float32 here
        x = x[lo:hi].to(device)
        return x if x.is_floating_point() else x.to(torch.float32)

    for start in tqdm(range(0, n, chunk), desc="vmaf", unit="chunk", disable=None if progress else True):
        r = part(ref, start, start + chunk)
        d = part(dis, start, start + chunk)
        parts.append(metric.frame_features(r, d))
        # motion needs the previous frame: recompute it over the chunk plus one frame of overlap
        prev = part(ref, start - 1, start + chunk) if start else r
        m = motion_features_for(prev, metric.bit_depth, metric.mode)["motion"]
        motion.append(m[1:] if start else m)
    features = {k: torch.cat([p[k] for p in parts]) for k in parts[0]}
    features["motion"] = torch.cat(motion)
    features["motion2"] = motion2_from_motion(features["motion"])
    scores = metric.svr(features)
    if metric.clip:
        scores = metric.svr.clip(scores)
    features["vmaf"] = scores
    return [{k: float(v[i]) for k, v in features.items()} for i in range(n)]


def compare_videos(ref_path: str, dis_path: str, *, size: str | None = None, pix_fmt: str | None = None,
                   model: str = "vmaf_v0.6.1", clip: bool = True, with_libvmaf: bool = False,
                   device: str = "cpu", mode: str = "float", progress: bool = False) -> VmafReport:
    """Our VMAF of `dis_path` against `ref_path`, and libvmaf's for the same model if asked."""
    ref, dis = load_pair(ref_path, dis_path, size, pix_fmt)
    metric = VMAF(model, clip=clip, bit_depth=ref.bit_depth, mode=mode).to(device)
    frames = score_clip(metric, ref.frames, dis.frames, progress=progress)
    reference = None
    if with_libvmaf:
        reference = libvmaf_on_tensors(ref.frames, dis.frames, model, clip, bit_depth=ref.bit_depth)
    return VmafReport(metric.model_name, clip, frames, reference, mode)
