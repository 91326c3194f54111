"""`filteropt vmaf REF DIS`: per-frame and pooled VMAF, optionally next to libvmaf's."""

from __future__ import annotations

import argparse

from filteropt.io import check_writable, write_json_atomic
from filteropt.media import LIBVMAF_MODELS
from filteropt.vmaf.compare import compare_videos


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("vmaf", help="differentiable VMAF of DIS against REF (optionally next to libvmaf)",
                       description="Per-frame and pooled VMAF of DIS against REF with filteropt's metric.")
    p.add_argument("ref", metavar="REF", help="reference video or image (raw .yuv needs --size)")
    p.add_argument("dis", metavar="DIS", help="distorted video or image, same frames as REF")
    p.add_argument("--size", metavar="WxH", help="frame size of raw .yuv inputs")
    p.add_argument("--pix-fmt", metavar="F", help="pixel format of raw .yuv inputs (default yuv420p; "
                   "yuv420p/422p/444p, add 10le for 10-bit)")
    p.add_argument("--model", metavar="M", default="vmaf_v0.6.1", choices=LIBVMAF_MODELS,
                   help=f"VMAF model: {', '.join(LIBVMAF_MODELS)} (default vmaf_v0.6.1)")
    p.add_argument("--no-clip", action="store_true", help="do not clip scores to [0, 100]")
    p.add_argument("--libvmaf", action="store_true", help="also run libvmaf with the same model and show the difference")
    p.add_argument("--json", metavar="PATH", help="write per-frame and pooled scores as JSON")
    p.add_argument("--mode", choices=("float", "exact"), default="float",
                   help="float: libvmaf's float extractors (default); exact: libvmaf's default integer path")
    p.add_argument("--device", default="cpu", help="torch device for our metric (cpu, cuda, ...)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.json:
        check_writable(args.json)
    report = compare_videos(args.ref, args.dis, size=args.size, pix_fmt=args.pix_fmt, model=args.model,
                            clip=not args.no_clip, with_libvmaf=args.libvmaf, device=args.device, mode=args.mode,
                            progress=True)
    header = f"{'frame':>5} {'vmaf':>10} {'adm2':>8} {'motion2':>8} " + " ".join(
        f"{'vif' + str(s):>8}" for s in range(4))
    ref_frames = report.libvmaf.frames if report.libvmaf else None
    if ref_frames:
        header += f" {'libvmaf':>10} {'delta':>9}"
    print(f"model {report.model}, {report.mode} mode, {'clipped' if report.clip else 'unclipped'}")
    print(header)
    for i, f in enumerate(report.frames):
        line = (f"{i:>5} {f['vmaf']:>10.4f} {f['adm2']:>8.5f} {f['motion2']:>8.4f} "
                + " ".join(f"{f[f'vif_scale{s}']:>8.5f}" for s in range(4)))
        if ref_frames:
            line += f" {ref_frames[i]['vmaf']:>10.4f} {f['vmaf'] - ref_frames[i]['vmaf']:>+9.4f}"
        print(line)
    pooled = f"pooled {report.pooled:.4f}"
    if ref_frames:
        lib = sum(f["vmaf"] for f in ref_frames) / len(ref_frames)
        pooled += f"  libvmaf {lib:.4f}  delta {report.pooled - lib:+.4f}"
    print(pooled)
    if args.json:
        write_json_atomic(args.json, report.to_json())
    return 0
