"""`filteropt tradeoff`: the alpha sweep without encoding — libvmaf's VMAF (unclipped and clipped) and
PSNR-Y of the filtered frames against the originals, one line per filter (the paper's figure 2)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from filteropt.datasets.clips import Clip, decoded_clip, raw_yuv_clip
from filteropt.evaluation.alpha_sweep import alpha_sweep, held_out_files
from filteropt.evaluation.rd_eval import split_specs
from filteropt.evaluation.sources import open_source, sample_sources
from filteropt.io import check_writable, write_csv_atomic
from filteropt.plots import tradeoff_plot
from filteropt.prefilters.spec import build_filter


@dataclass
class TradeoffResult:
    out: Path
    table: pd.DataFrame


def tradeoff_clips(sources: list[str], out: Path, size: str | None, pix_fmt: str | None, fps: str | None,
                   frames: int) -> list[Clip]:
    """Clips to sweep on: the given files (checked by probing) or the embedded sample set."""
    if not sources:
        found = sample_sources(out / "sources")
        return [decoded_clip(s.input.path, frames) for s in found]
    clips = []
    for path in sources:
        source = open_source(path, size, pix_fmt, fps)  # clear errors for unreadable files
        if source.input.raw_size:
            clips.append(raw_yuv_clip(path, source.width, source.height, source.input.raw_pix_fmt or "yuv420p"))
        else:
            clips.append(decoded_clip(path, frames))
    return clips


def tradeoff(sources: list[str], filters: list[str], alphas: list[float], out: str | Path = "tradeoff", *,
             size: str | None = None, pix_fmt: str | None = None, fps: str | None = None, frames: int = 16,
             model: str = "vmaf_v0.6.1", progress: bool = True) -> TradeoffResult:
    """Sweep each filter over `alphas` on the first `frames` frames of each source; write
    tradeoff.csv and tradeoff.png into `out`."""
    import sys

    from tqdm import tqdm

    out = Path(out)
    check_writable(out)
    out.mkdir(exist_ok=True)
    modules = {spec: build_filter(spec) for spec in split_specs(filters)}
    clips = tradeoff_clips(sources, out, size, pix_fmt, fps, frames)
    with held_out_files(clips, frames) as held, tqdm(total=len(modules) * len(alphas), desc="tradeoff (libvmaf)",
                                                     unit="point", disable=not progress, file=sys.stderr) as bar:
        table = alpha_sweep(modules, held, alphas, model, progress=lambda: bar.update(1))
    table.insert(2, "sources", ";".join(c.name for c in clips))
    write_csv_atomic(table, out / "tradeoff.csv", "%.6f")
    tradeoff_plot(table, out / "tradeoff.png", f"VMAF vs PSNR against the originals ({model}, libvmaf, "
                  f"{len(clips)} clips, no encoding)")
    return TradeoffResult(out, table)
