"""`filteropt demo`: the short end-to-end run on embedded data (no download)."""

from __future__ import annotations

import argparse

from filteropt.demo import run_demo


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="end-to-end demo on embedded sample data (about 7 minutes on 2 cores)",
                       description="Check our VMAF against libvmaf, train the 7x7 kernel on the sample set, export "
                                   "it for ffmpeg, and compare no filter / unsharp / learned through x265 at four "
                                   "bitrates (BD-rate table and RD plots). Reruns reuse finished work.")
    p.add_argument("--out", default="demo-out", metavar="DIR", help="output folder (default %(default)s)")
    p.add_argument("--kbps", type=float, default=250.0, help="x265 bitrate of the metric check clip")
    p.add_argument("-j", "--jobs", type=int, default=2, help="encodes run in parallel (default %(default)s)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    run_demo(args.out, kbps=args.kbps, jobs=args.jobs, progress=not args.quiet)
    return 0
