"""`filteropt` entry point: dispatch to sub-commands, turn user errors into one line and exit 2."""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Sequence

from filteropt import __version__
from filteropt.cli import (
    apply_cmd,
    demo_cmd,
    experiment_cmd,
    export_cmd,
    rd_eval_cmd,
    tradeoff_cmd,
    train_cmd,
    vmaf_cmd,
)
from filteropt.errors import FilteroptError
from filteropt.memory import keep_freed_memory

SUBCOMMANDS = (vmaf_cmd, demo_cmd, train_cmd, export_cmd, apply_cmd, tradeoff_cmd, rd_eval_cmd, experiment_cmd)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse's own errors: one line, exit 2
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="filteropt", description="Learned pre-processing filters for video encoding, "
                     "trained against a differentiable VMAF; measured with x265 and libvmaf.")
    parser.add_argument("--version", action="version", version=f"filteropt {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for module in SUBCOMMANDS:
        module.add_parser(sub)
    return parser


def _warning_line(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings (e.g. a skipped corrupt clip) as one line, without source locations."""
    print(f"filteropt: warning: {message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    warnings.showwarning = _warning_line
    keep_freed_memory()  # torch's per-call buffers are reused instead of page-faulted in again
    try:
        code = args.run(args) or 0
        sys.stdout.flush()  # a closed pipe shows up here, not at interpreter exit
        return code
    except BrokenPipeError:  # stdout closed early, e.g. `filteropt ... | head`: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except FilteroptError as exc:
        print(f"filteropt: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("filteropt: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
