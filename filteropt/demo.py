"""`make demo`: the short version of the whole story, on embedded data (no download).

1. the metric: our VMAF next to libvmaf's on an x265-encoded natural clip;
2. training: the 7x7 kernel against VMAF on the sample set (reused when already trained), with its
   alpha sweep against unsharp masking on held-out clips;
3. export: the ffmpeg `convolution` string of the learned kernel;
4. rd-eval: x265 at the four bitrates (scaled for the small clips), no filter vs unsharp vs learned,
   the BD-rate table and the RD plots.
"""

from __future__ import annotations

from pathlib import Path

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


def metric_check(kbps: float = 250.0, print_fn=print) -> dict[str, float]:
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


def run_demo(out: str | Path = "demo-out", *, kbps: float = 250.0, steps: int | None = None, frames: int | None = None,
             preset: str | None = None, jobs: int = 2, progress: bool = True, print_fn=print) -> dict:
    """The four steps above into `out` (train/ and rd/); returns the metric check, the learned filter's
    ffmpeg string and the BD-rate table. `steps`, `frames` and `preset` shorten it (tests)."""
    from filteropt.evaluation.bdrate import bd_rate_text
    from filteropt.evaluation.rd_eval import RdEvalSettings, rd_eval
    from filteropt.io import check_writable
    from filteropt.training.config import TrainConfig
    from filteropt.training.held_out_sweep import sweep_run
    from filteropt.training.trainer import train

    out = Path(out)
    check_writable(out)
    out.mkdir(exist_ok=True)
    print_fn("== 1/4 the metric: filteropt VMAF next to libvmaf")
    summary = metric_check(kbps, print_fn)
    print_fn("\n== 2/4 training the 7x7 kernel against VMAF on the sample set")
    run_dir = out / "train-linear7"
    result = train(TrainConfig(steps=steps), run_dir, resume=(run_dir / "config.json").exists(), progress=progress)
    report = sweep_run(run_dir, result.module, "learned 7x7", result.held_out_clips, ["unsharp:7:1"],
                       progress=progress)
    for line in report.lines:
        print_fn(line)
    print_fn(f"trade-off plot: {run_dir / 'sweep.png'}")
    print_fn("\n== 3/4 export: the learned kernel as an ffmpeg filter (paste after -vf)")
    vf = (run_dir / "ffmpeg_filter.txt").read_text().strip()
    print_fn(vf)
    print_fn("\n== 4/4 rd-eval: x265 at 4000/6000/8000/9500 kbps (scaled by pixel count for small clips)")
    settings = RdEvalSettings(filters=["none", "unsharp:7:0.5", f"run:{run_dir}:0.25"], out=str(out / "rd"),
                              frames=frames, preset=preset, jobs=jobs)
    rd = rd_eval(settings, progress=progress, echo=print_fn)
    print_fn("BD-rate against no filter (%, negative = fewer bits for the same quality; n/a: curves that "
             "cannot be compared, see rd/bdrate.csv):")
    print_fn(bd_rate_text(rd.bdrate))
    print_fn(f"RD plots: {out / 'rd' / 'rd_vmaf.png'}, rd_vmaf_neg.png, rd_psnr.png; all rows: {out / 'rd' / 'results.csv'}")
    return {"metric": summary, "ffmpeg_filter": vf, "bdrate": rd.bdrate, "results": rd.results}
