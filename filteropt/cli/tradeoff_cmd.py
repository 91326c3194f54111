"""`filteropt tradeoff`: VMAF vs PSNR of filters at several strengths, no encoding."""

from __future__ import annotations

import argparse

from filteropt.prefilters.spec import SPEC_SYNTAX


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("tradeoff", help="alpha sweep of filters: libvmaf VMAF and PSNR against the originals",
                       description="Blend each filter with the identity at every alpha, measure VMAF (unclipped "
                                   "and clipped) and PSNR-Y of the filtered frames against the originals with "
                                   "libvmaf, and plot VMAF against PSNR with alpha labels. No encoding.")
    p.add_argument("--source", nargs="+", default=[], metavar="CLIP",
                   help="clips (anything ffmpeg reads, raw .yuv with --size); default: the embedded sample set")
    p.add_argument("--filters", nargs="+", required=True, metavar="SPEC",
                   help=f"filter specs, separate or comma-separated: {SPEC_SYNTAX}")
    p.add_argument("--alphas", default="0:1:0.05", help="START:STOP:STEP or a comma list (default %(default)s)")
    p.add_argument("--frames", type=int, default=16, help="first N frames of each source (default %(default)s)")
    p.add_argument("--size", metavar="WxH", help="frame size of raw .yuv sources")
    p.add_argument("--pix-fmt", metavar="FMT", help="pixel format of raw .yuv sources (default yuv420p)")
    p.add_argument("--fps", metavar="RATE", help="frame rate of raw .yuv sources (default 25)")
    p.add_argument("--out", default="tradeoff", metavar="DIR", help="output folder (default %(default)s)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from filteropt.errors import FilteroptError
    from filteropt.evaluation.alpha_sweep import parse_alphas
    from filteropt.evaluation.tradeoff import tradeoff

    if args.frames < 1:
        raise FilteroptError(f"--frames must be at least 1, not {args.frames}")
    result = tradeoff(args.source, args.filters, parse_alphas(args.alphas), args.out, size=args.size,
                      pix_fmt=args.pix_fmt, fps=args.fps, frames=args.frames, progress=not args.quiet)
    print(f"{len(result.table)} points -> {result.out}/tradeoff.csv, {result.out}/tradeoff.png")
    return 0
