"""Shared helpers of the VMAF benchmarks: the optional vmaf-torch baseline and table printing."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import torch

# let `python bench/<script>.py` import filteropt from a checkout without installing it
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

VMAF_TORCH_MISSING = "vmaf-torch not installed (pip install -e '.[bench]')"


def import_vmaf_torch() -> ModuleType | None:
    """The `vmaf_torch` package (the baseline, PyPI vmaf-torch 1.1.0), or None if it is missing."""
    try:
        import vmaf_torch
    except ImportError:
        return None
    return vmaf_torch


def vmaf_torch_metric(vmaf_torch: ModuleType, model: str = "vmaf_v0.6.1") -> torch.nn.Module:
    """A vmaf-torch VMAF module (unclipped, per-frame scores) with the SVR of libvmaf `model`."""
    from filteropt.vmaf.svm import model_path

    if model == "vmaf_v0.6.1":
        return vmaf_torch.VMAF(clip_score=False)
    neg = model == "vmaf_v0.6.1neg"
    return vmaf_torch.VMAF(clip_score=False, NEG=neg, model_json_path=str(model_path(model)))


def use_all_cores() -> int:
    """Let torch use every CPU core; returns the count."""
    cores = os.cpu_count() or 1
    torch.set_num_threads(cores)
    return cores


def print_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Print rows as a plain aligned text table (strings left-aligned, the rest right-aligned)."""
    cells = [[str(c) for c in header]] + [[fmt_cell(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    left = [isinstance(c, str) for c in (rows[0] if rows else header)]

    def line(r: list[str]) -> str:
        return "  ".join(c.ljust(w) if lft else c.rjust(w) for c, w, lft in zip(r, widths, left)).rstrip()

    print(line(cells[0]))
    print("  ".join("-" * w for w in widths))
    for r in cells[1:]:
        print(line(r))


def fmt_cell(value: object) -> str:
    """Numbers in a compact form: small ones in scientific notation, None as '-'."""
    if value is None:
        return "-"
    if isinstance(value, float):
        if value != 0.0 and abs(value) < 1e-2:
            return f"{value:.1e}"
        return f"{value:.3f}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)
