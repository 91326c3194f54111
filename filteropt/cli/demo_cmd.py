"""`filteropt demo`: the short end-to-end run on embedded data (no download)."""

from __future__ import annotations

import argparse

from filteropt.demo import run_demo


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="end-to-end demo on embedded sample data",
                       description="Build a natural clip from bundled photos, encode it with x265 and "
                                   "print filteropt's VMAF next to libvmaf's.")
    p.add_argument("--kbps", type=float, default=250.0, help="x265 bitrate for the distorted clip")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    run_demo(kbps=args.kbps)
    return 0
