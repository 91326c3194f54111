"""`filteropt apply --filter SPEC IN OUT`: filter a whole video (luma only; all else kept)."""

from __future__ import annotations

import argparse
import sys

from filteropt.media.frames import RAW_PIX_FMTS
from filteropt.prefilters.apply import ENGINES, apply_filter
from filteropt.prefilters.spec import SPEC_SYNTAX


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("apply", help="filter a whole video with a prefilter spec",
                       description="Filter every frame's luma of IN into OUT; chroma, frame rate, pixel "
                                   "format and frame count are kept. OUT appears only on success.")
    p.add_argument("input", metavar="IN", help="input video (.y4m, raw .yuv with --size, anything ffmpeg "
                   "reads) or - for y4m on stdin")
    p.add_argument("output", metavar="OUT", help="output: .y4m, .yuv, .mkv (lossless FFV1) or - for y4m on stdout")
    p.add_argument("--filter", required=True, metavar="SPEC", help=f"filter spec: {SPEC_SYNTAX}")
    p.add_argument("--engine", choices=ENGINES, default="auto",
                   help="ffmpeg: run the exported filter string; torch: the module's deploy mode frame by "
                        "frame; auto (default): ffmpeg where it can")
    p.add_argument("--size", metavar="WxH", help="frame size of raw .yuv input")
    p.add_argument("--pix-fmt", metavar="F", help=f"pixel format of raw .yuv input (default yuv420p; "
                   f"{', '.join(RAW_PIX_FMTS)})")
    p.add_argument("--fps", metavar="N[/D]", help="frame rate of raw .yuv input (default 25)")
    p.add_argument("--device", default="cpu", help="torch device for --engine torch (cpu, cuda, ...)")
    p.add_argument("--threads", type=int, metavar="N", help="torch CPU threads for --engine torch (default: 1 when IN or OUT is -, "
                   "else torch's default)")
    p.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    to_stdout = args.output == "-"
    result = apply_filter(args.filter, args.input, args.output, engine=args.engine, size=args.size,
                          pix_fmt=args.pix_fmt, fps=args.fps, device=args.device, threads=args.threads,
                          progress=False if args.quiet or to_stdout else None)
    if not args.quiet and not to_stdout:
        fmt = result.format
        print(f"{result.frames} frames {fmt.width}x{fmt.height} {fmt.pix_fmt} "
              f"{fmt.fps[0]}/{fmt.fps[1]} fps, engine {result.engine} -> {args.output}", file=sys.stderr)
    return 0
