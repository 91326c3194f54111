"""`filteropt export --filter SPEC`: the ffmpeg filter string (or CNN TorchScript + pipe command)."""

from __future__ import annotations

import argparse
import json
import sys

from filteropt.export.spec_export import export_filter
from filteropt.prefilters.spec import SPEC_SYNTAX


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="print the ffmpeg filter (or CNN TorchScript pipe) of a filter spec",
                       description="Export a prefilter: linear kernels and unsharp as an ffmpeg -vf string, "
                                   "CNNs as a TorchScript file plus the y4m pipe command that runs it.")
    p.add_argument("--filter", required=True, metavar="SPEC", help=f"filter spec: {SPEC_SYNTAX}")
    p.add_argument("--format", choices=("string", "json"), default="string",
                   help="string: the -vf string or pipe command; json: with integer taps, rdiv, bias and errors")
    p.add_argument("--out", metavar="PATH", help="where a CNN's TorchScript goes (default: beside the checkpoint, "
                   "NAME.ts.pt)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    result = export_filter(args.filter, args.out)
    if args.format == "json":
        print(json.dumps(result.to_json(), indent=2))
    else:
        if result.torchscript is not None:
            print(f"wrote TorchScript {result.torchscript}", file=sys.stderr)
        print(result.to_string())
    return 0
