"""The short end-to-end demo on embedded data: a natural clip, x265, our VMAF next to libvmaf's."""

from __future__ import annotations

import torch

from filteropt.datasets.sample import pan_clip
from filteropt.errors import FilteroptError
from filteropt.media import libvmaf_on_tensors
from filteropt.media.transform import x265_roundtrip
from filteropt.vmaf import VMAF


def demo_clip(width: int = 640, height: int = 360, frames: int = 10) -> torch.Tensor:
    """Two sub-pixel pans over bundled photos, back to back (a scene cut in the middle)."""
    half = frames // 2
    return torch.cat([
        pan_clip("astronaut", width, height, half, velocity=(0.9, 0.4)),
        pan_clip("coffee", width, height, frames - half, velocity=(-0.6, 0.5), zoom_per_frame=0.003),
    ])


def run_demo(kbps: float = 250.0, print_fn=print) -> dict[str, float]:
    """Encode the demo clip with x265 at `kbps`; print per-frame VMAF: ours (float and exact modes)
    next to libvmaf's float and default (integer) paths."""
    if kbps <= 0:
        raise FilteroptError(f"--kbps must be positive, got {kbps:g}")
    ref = demo_clip()
    print_fn(f"demo clip: {ref.shape[0]} frames {ref.shape[-1]}x{ref.shape[-2]} from scikit-image photos; "
             f"x265 at {kbps:g} kbps ...")
    dis = x265_roundtrip(ref, kbps=kbps)
    with torch.no_grad():
        ours = VMAF("vmaf_v0.6.1", clip=False)(ref, dis).scores.double()
    with torch.no_grad():
        exact = VMAF("vmaf_v0.6.1", clip=False, mode="exact")(ref, dis).scores.double()
    lib_float = libvmaf_on_tensors(ref, dis, "vmaf_float_v0.6.1", clip=False).column("vmaf")
    lib_int = libvmaf_on_tensors(ref, dis, "vmaf_v0.6.1", clip=False).column("vmaf")
    print_fn("unclipped VMAF (vmaf_v0.6.1); filteropt float mode vs libvmaf float path, "
             "exact mode vs libvmaf's default path")
    print_fn(f"{'frame':>5} {'filteropt':>10} {'libvmaf float':>14} {'delta':>9} "
             f"{'fo exact':>10} {'libvmaf default':>16} {'delta':>9}")
    for i in range(ref.shape[0]):
        print_fn(f"{i:>5} {ours[i]:>10.4f} {lib_float[i]:>14.4f} {ours[i] - lib_float[i]:>+9.4f} "
                 f"{exact[i]:>10.4f} {lib_int[i]:>16.4f} {exact[i] - lib_int[i]:>+9.4f}")
    summary = {
        "filteropt": ours.mean().item(),
        "libvmaf_float": lib_float.mean().item(),
        "libvmaf_default": lib_int.mean().item(),
        "filteropt_exact": exact.mean().item(),
        "max_abs_delta_float": (ours - lib_float).abs().max().item(),
        "max_abs_delta_exact": (exact - lib_int).abs().max().item(),
    }
    print_fn(f"{'mean':>5} {summary['filteropt']:>10.4f} {summary['libvmaf_float']:>14.4f} "
             f"{summary['filteropt'] - summary['libvmaf_float']:>+9.4f} {summary['filteropt_exact']:>10.4f} "
             f"{summary['libvmaf_default']:>16.4f} {summary['filteropt_exact'] - summary['libvmaf_default']:>+9.4f}")
    print_fn(f"max |delta|: float mode vs libvmaf float {summary['max_abs_delta_float']:.5f}, "
             f"exact mode vs libvmaf default {summary['max_abs_delta_exact']:.6f}")
    return summary
