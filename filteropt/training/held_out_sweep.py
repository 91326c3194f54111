"""After training: the alpha sweep of the learned filter and its baselines on the held-out clips.

Writes into the run folder `sweep.csv` (one row per filter and alpha), `sweep.png` (VMAF vs PSNR
with alpha labels), `matched.csv` (per baseline alpha in [0.1, 1]: the strongest learned alpha at
equal or higher PSNR and whether its VMAF is higher) and `summary.json`.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from torch import nn

from filteropt.datasets.clips import Clip
from filteropt.evaluation.alpha_sweep import alpha_sweep, held_out_files, matched_strengths
from filteropt.io import write_csv_atomic, write_json_atomic
from filteropt.plots import tradeoff_plot
from filteropt.prefilters.spec import build_filter

DEFAULT_ALPHAS = tuple(round(i * 0.05, 2) for i in range(21))
MATCH_RANGE = (0.1, 1.0)


@dataclass
class SweepReport:
    """The sweep table, the matched comparison per baseline, and one line per baseline for people."""

    sweep: pd.DataFrame
    matched: pd.DataFrame
    lines: list[str]


def sweep_run(folder: Path, learned: nn.Module, learned_name: str, clips: list[Clip], baselines: list[str],
              alphas: tuple[float, ...] = DEFAULT_ALPHAS, model: str = "vmaf_v0.6.1", max_frames: int = 16,
              progress: bool = True, stem: str = "sweep") -> SweepReport:
    """Sweep `learned` and each baseline spec over `alphas` on `clips` and compare them (files above;
    `stem` renames sweep.csv/png, matched.csv and summary.json to STEM.csv, STEM.png, STEM_matched.csv,
    STEM_summary.json)."""
    from tqdm import tqdm

    filters = {learned_name: learned, **{spec: build_filter(spec) for spec in baselines}}
    in_range = [a for a in alphas if MATCH_RANGE[0] - 1e-9 <= a <= MATCH_RANGE[1] + 1e-9]
    total = len(filters) * len(alphas) + len(baselines) * len(in_range)
    with held_out_files(clips, max_frames) as held, tqdm(total=total, desc="alpha sweep (libvmaf)", unit="point",
                                                         disable=not progress, file=sys.stderr) as bar:
        sweep = alpha_sweep(filters, held, alphas, model, progress=lambda: bar.update(1))
        matched = []
        for spec in baselines:
            rows = sweep[(sweep["filter"] == spec) & sweep["alpha"].isin(in_range)]
            matched.append(matched_strengths(learned, spec, rows, held, model, progress=lambda: bar.update(1)))
    matched_table = pd.concat(matched, ignore_index=True) if matched else pd.DataFrame()
    names = ({"csv": "sweep.csv", "png": "sweep.png", "matched": "matched.csv", "summary": "summary.json"}
             if stem == "sweep" else {"csv": f"{stem}.csv", "png": f"{stem}.png", "matched": f"{stem}_matched.csv",
                                      "summary": f"{stem}_summary.json"})
    write_csv_atomic(sweep, folder / names["csv"], "%.6f")
    write_csv_atomic(matched_table, folder / names["matched"], "%.6f")
    tradeoff_plot(sweep, folder / names["png"], f"{learned_name} vs baselines on {len(clips)} held-out clips "
                  f"({model}, libvmaf)")
    lines, summary = [], {"model": model, "clips": [c.name for c in clips], "baselines": {}}
    for spec in baselines:
        part = matched_table[matched_table["baseline"] == spec]
        beaten = int(part["beaten"].sum())
        worst = part.loc[part["vmaf_gain"].idxmin()] if len(part) else None
        summary["baselines"][spec] = {"beaten": beaten, "of": len(part),
                                      "min_vmaf_gain": None if worst is None else float(worst["vmaf_gain"])}
        verdict = "beats" if len(part) and beaten == len(part) else "does not beat"
        gain = "" if worst is None else f"; smallest VMAF gain at equal or higher PSNR {worst['vmaf_gain']:+.2f} " \
                                        f"(baseline alpha {worst['baseline_alpha']:g})"
        lines.append(f"{learned_name} {verdict} {spec}: higher VMAF at >= PSNR for {beaten} of {len(part)} "
                     f"baseline alphas in [{MATCH_RANGE[0]:g}, {MATCH_RANGE[1]:g}]{gain}")
    write_json_atomic(folder / names["summary"], {**summary, "verdicts": lines})
    return SweepReport(sweep, matched_table, lines)
