"""Alpha sweeps: VMAF and PSNR of filters blended with the identity at several strengths, by libvmaf.

Linear kernels and unsharp masking are measured as deployed: their exported ffmpeg filter runs
inside the libvmaf graph. CNNs are applied with their deploy path (the frames their TorchScript
export writes), then scored by libvmaf. `matched_strengths` answers "at equal or higher PSNR, does
the learned filter reach a higher VMAF than the baseline?" for each baseline strength.
"""

from __future__ import annotations

import copy
import math
import tempfile
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch
from torch import nn

from filteropt.datasets.clips import Clip
from filteropt.media.frames import write_y4m
from filteropt.media.libvmaf import libvmaf_on_files
from filteropt.prefilters.spec import deployed_filter_string
from filteropt.prefilters.unsharp import UnsharpPrefilter

SWEEP_COLUMNS = ("filter", "alpha", "vmaf", "vmaf_clipped", "psnr_y", "frames", "ffmpeg_filter")


def at_alpha(module: nn.Module, alpha: float) -> nn.Module:
    """A copy of a prefilter at `alpha` times its strength (unsharp: amount times alpha)."""
    if isinstance(module, UnsharpPrefilter):
        return UnsharpPrefilter(module.size, alpha * module.deployed_amount())
    out = copy.deepcopy(module)
    out.alpha = float(alpha) * float(getattr(module, "alpha", 1.0))
    return out


@dataclass
class HeldOutClip:
    """A clip to measure on: its frames (code values) and a y4m copy on disk for ffmpeg."""

    name: str
    frames: torch.Tensor
    bit_depth: int
    path: Path


@contextmanager
def held_out_files(clips: Sequence[Clip], max_frames: int = 16):
    """The first `max_frames` of each clip, written once as y4m into a temporary folder."""
    with tempfile.TemporaryDirectory(prefix="filteropt-sweep-") as tmp:
        folder = Path(tmp)
        held = []
        for i, clip in enumerate(clips):
            frames = clip.read(0, min(max_frames, clip.count_frames()))
            path = folder / f"clip{i}.y4m"
            write_y4m(path, frames, clip.bit_depth)
            held.append(HeldOutClip(clip.name, frames, clip.bit_depth, path))
        yield held


def measure(module: nn.Module, clips: Sequence[HeldOutClip], model: str = "vmaf_v0.6.1") -> dict[str, float]:
    """libvmaf on `module` applied to `clips`: mean unclipped and clipped VMAF and PSNR-Y over all frames."""
    frames = []
    for clip in clips:
        vf = deployed_filter_string(module, clip.bit_depth)
        if vf is not None:
            result = libvmaf_on_files(clip.path, clip.path, model, clip=False, psnr=True, dis_filter=vf)
        else:
            dis_path = clip.path.with_suffix(".dis.y4m")
            write_y4m(dis_path, module.deploy(clip.frames, clip.bit_depth), clip.bit_depth)
            result = libvmaf_on_files(clip.path, dis_path, model, clip=False, psnr=True)
        frames += result.frames
    vmaf = [f["vmaf"] for f in frames]
    return {"vmaf": sum(vmaf) / len(vmaf),
            "vmaf_clipped": sum(min(max(v, 0.0), 100.0) for v in vmaf) / len(vmaf),
            "psnr_y": sum(f["psnr_y"] for f in frames) / len(frames), "frames": len(frames)}


def alpha_sweep(filters: dict[str, nn.Module], clips: Sequence[HeldOutClip], alphas: Sequence[float],
                model: str = "vmaf_v0.6.1", progress: Callable[[], None] | None = None) -> pd.DataFrame:
    """One row per (filter, alpha) with libvmaf's VMAF (unclipped, clipped) and PSNR-Y (see `measure`)."""
    rows = []
    for name, module in filters.items():
        for alpha in alphas:
            blended = at_alpha(module, alpha)
            rows.append({"filter": name, "alpha": float(alpha), **measure(blended, clips, model),
                         "ffmpeg_filter": deployed_filter_string(blended, clips[0].bit_depth) or ""})
            if progress:
                progress()
    return pd.DataFrame(rows, columns=list(SWEEP_COLUMNS))


def psnr_y(module: nn.Module, clips: Sequence[HeldOutClip]) -> float:
    """Mean per-frame PSNR-Y of the deployed filter, as libvmaf computes it (capped at 60 dB at 8 bit)."""
    values = []
    for clip in clips:
        peak = float((1 << clip.bit_depth) - 1)
        cap = 6.0 * clip.bit_depth + 12.0
        out = module.deploy(clip.frames, clip.bit_depth).double()
        mse = (out - clip.frames.double()).square().mean(dim=(1, 2, 3))
        values += [min(cap, 10 * math.log10(peak * peak / m)) if m > 0 else cap for m in mse.tolist()]
    return sum(values) / len(values)


def strongest_alpha_at_psnr(module: nn.Module, clips: Sequence[HeldOutClip], target_db: float,
                            max_alpha: float = 1.0, iterations: int = 14) -> float:
    """The largest alpha in [0, max_alpha] whose deployed PSNR-Y is still >= `target_db` (bisection)."""
    if psnr_y(at_alpha(module, max_alpha), clips) >= target_db:
        return max_alpha
    lo, hi = 0.0, max_alpha
    for _ in range(iterations):
        mid = (lo + hi) / 2
        if psnr_y(at_alpha(module, mid), clips) >= target_db:
            lo = mid
        else:
            hi = mid
    return lo


MATCHED_COLUMNS = ("baseline", "baseline_alpha", "baseline_vmaf", "baseline_psnr_y", "learned_alpha",
                   "learned_vmaf", "learned_psnr_y", "vmaf_gain", "beaten")


def matched_strengths(learned: nn.Module, baseline_name: str, baseline_rows: pd.DataFrame,
                      clips: Sequence[HeldOutClip], model: str = "vmaf_v0.6.1",
                      progress: Callable[[], None] | None = None) -> pd.DataFrame:
    """For each baseline row (alpha, vmaf, psnr_y): the strongest learned alpha at equal or higher
    PSNR-Y, measured by libvmaf; `beaten` when its VMAF is higher."""
    rows = []
    for _, base in baseline_rows.iterrows():
        alpha = strongest_alpha_at_psnr(learned, clips, float(base["psnr_y"]))
        got = measure(at_alpha(learned, alpha), clips, model)
        # libvmaf's PSNR is the judge: step back if its rounding puts us a hair below the target
        for _ in range(3):
            if got["psnr_y"] >= base["psnr_y"] or alpha == 0.0:
                break
            alpha = max(0.0, alpha * 0.999)
            got = measure(at_alpha(learned, alpha), clips, model)
        rows.append({"baseline": baseline_name, "baseline_alpha": float(base["alpha"]),
                     "baseline_vmaf": float(base["vmaf"]), "baseline_psnr_y": float(base["psnr_y"]),
                     "learned_alpha": round(alpha, 5), "learned_vmaf": got["vmaf"], "learned_psnr_y": got["psnr_y"],
                     "vmaf_gain": got["vmaf"] - float(base["vmaf"]),
                     "beaten": bool(got["vmaf"] > base["vmaf"] and got["psnr_y"] >= base["psnr_y"])})
        if progress:
            progress()
    return pd.DataFrame(rows, columns=list(MATCHED_COLUMNS))


def parse_alphas(text: str) -> list[float]:
    """'0:1:0.05' (start:stop:step, stop included) or '0.1,0.5,1' -> a list of alphas in [0, 5]."""
    from filteropt.errors import FilteroptError

    hint = "give START:STOP:STEP (e.g. 0:1:0.05) or a comma list (e.g. 0.25,0.5,1)"
    try:
        if ":" in text:
            start, stop, step = (float(v) for v in text.split(":"))
            if step <= 0 or stop < start:
                raise ValueError
            count = int(math.floor((stop - start) / step + 1e-9)) + 1
            values = [round(start + i * step, 10) for i in range(count)]
        else:
            values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise FilteroptError(f"bad alpha list {text!r}; {hint}") from None
    if not values or not all(math.isfinite(v) and 0 <= v <= 5 for v in values):
        raise FilteroptError(f"bad alpha list {text!r}: alphas must be numbers in [0, 5]; {hint}")
    return values
