"""`filteropt rd-eval`: encode filtered sources at a bitrate ladder, score against the originals."""

from __future__ import annotations

import argparse

from filteropt.prefilters.spec import SPEC_SYNTAX


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("rd-eval", help="rate-distortion evaluation of prefilters through x265/x264",
                       description="One job per (source, filter, bitrate): the filter runs inside the encode "
                                   "graph (CNNs through the torch pipe), the bitstream is decoded and scored "
                                   "against the ORIGINAL source by libvmaf (VMAF, VMAF NEG, PSNR-Y), with our "
                                   "torch VMAF as a cross-check. Finished jobs are cached in OUT/jobs.")
    p.add_argument("--source", nargs="+", default=[], metavar="CLIP",
                   help="clips to encode (anything ffmpeg reads, or raw .yuv with --size); default: the "
                        "embedded sample set (a synthetic 1080p game-like clip and photo pans)")
    p.add_argument("--filters", nargs="+", required=True, metavar="SPEC",
                   help=f"filter specs, comma-separated or as separate arguments: {SPEC_SYNTAX}; "
                        "'none' (the BD-rate anchor) is added when missing")
    p.add_argument("--encoder", default="x265", help="preset name in encoders/ (x265, x264) or a .toml file")
    p.add_argument("--bitrates", metavar="KBPS,...", help="target bitrates in kbps (default: the preset's "
                   "ladder, 4000,6000,8000,9500 for x265, scaled by pixel count for sources that are not 1080p)")
    p.add_argument("--preset", help="encoder speed preset (default: the preset file's, medium)")
    p.add_argument("--rate-control", choices=("abr", "2pass"), help="one-pass ABR (default) or two-pass")
    p.add_argument("--frames", type=int, help="encode only the first N frames of each source")
    p.add_argument("--size", metavar="WxH", help="frame size of raw .yuv sources")
    p.add_argument("--pix-fmt", metavar="FMT", help="pixel format of raw .yuv sources (default yuv420p)")
    p.add_argument("--fps", metavar="RATE", help="frame rate of raw .yuv sources (default 25)")
    p.add_argument("--out", default="rd-eval", metavar="DIR", help="output folder (default %(default)s)")
    p.add_argument("-j", "--jobs", type=int, default=1, metavar="N", help="jobs run in parallel (default 1)")
    p.add_argument("--no-torch-vmaf", action="store_true",
                   help="skip the torch VMAF cross-check column (about half of the time of a 1080p job)")
    p.add_argument("--dry-run", action="store_true", help="print the ffmpeg commands of every job, run nothing")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from filteropt.evaluation.bdrate import bd_rate_text
    from filteropt.evaluation.rd_eval import RdEvalSettings, parse_bitrates, rd_eval

    settings = RdEvalSettings(filters=args.filters, sources=args.source, out=args.out, encoder=args.encoder,
                              bitrates=parse_bitrates(args.bitrates) if args.bitrates else None,
                              preset=args.preset, rate_control=args.rate_control, frames=args.frames,
                              size=args.size, pix_fmt=args.pix_fmt, fps=args.fps, jobs=args.jobs,
                              torch_vmaf=not args.no_torch_vmaf)
    result = rd_eval(settings, dry_run=args.dry_run, progress=not args.quiet)
    if result is None:
        return 0
    print(f"{len(result.results)} jobs ({result.ran} run, {result.cached} cached) in {result.seconds:.0f} s -> "
          f"{result.out}/results.csv, bdrate.csv, rd_vmaf.png, rd_vmaf_neg.png, rd_psnr.png")
    if len(result.bdrate):
        print("BD-rate against none (%, negative = fewer bits for the same quality):")
        print(bd_rate_text(result.bdrate))
        skipped = result.bdrate[result.bdrate["note"].fillna("").str.startswith("not computed")]
        for _, row in skipped.iterrows():
            print(f"  {row['source']} / {row['filter']} / {row['metric']}: {row['note']}")
    return 0
