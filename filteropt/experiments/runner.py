"""Run an experiment config: train (or reuse) its filters, then make its figure, tables and summary.

Trained filters are shared by all experiments in `RESULTS/runs/DATASET-FILTER-seedN/`: a finished run
with the same settings is reused, not retrained. Each experiment writes into `RESULTS/NAME/`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from filteropt.errors import FilteroptError
from filteropt.evaluation.alpha_sweep import at_alpha, held_out_files, psnr_y, strongest_alpha_at_psnr
from filteropt.evaluation.bdrate import bd_rates
from filteropt.evaluation.rd_eval import RdEvalSettings, rd_eval, write_rd_plots
from filteropt.experiments.config import ExperimentConfig, load_experiment
from filteropt.io import write_csv_atomic, write_json_atomic
from filteropt.prefilters.spec import build_filter
from filteropt.training.config import TrainConfig
from filteropt.training.held_out_sweep import sweep_run
from filteropt.training.trainer import TrainResult, train


def train_filters(cfg: ExperimentConfig, runs_dir: Path, data_root: str | None,
                  progress: bool) -> dict[str, TrainResult]:
    """Each filter of [train], trained into the shared runs folder or reused when already finished."""
    runs_dir.mkdir(parents=True, exist_ok=True)
    out = {}
    for name in cfg.train_filters:
        folder = runs_dir / f"{cfg.dataset}-{name}-seed{cfg.seed}"
        config = TrainConfig(dataset=cfg.dataset, data_root=data_root, filter=name, steps=cfg.steps, seed=cfg.seed)
        out[name] = train(config, folder, resume=(folder / "config.json").exists(), progress=progress)
    return out


def substitute(spec: str, runs: dict[str, TrainResult]) -> str:
    """'{linear7}:0.25' -> 'run:RUN_DIR:0.25' for the trained filters."""
    for name, result in runs.items():
        spec = spec.replace("{" + name + "}", f"run:{result.folder}")
    if "{" in spec:
        raise FilteroptError(f"filter {spec!r} names a filter this experiment does not train (its [train] filters)")
    return spec


def evaluation_clips(result: TrainResult) -> list:
    """The held-out clips (the training clips when the dataset has only one)."""
    return result.held_out_clips or result.train_clips


def rd_settings(cfg: ExperimentConfig, result: TrainResult, filters: list[str], out: Path) -> RdEvalSettings:
    """rd-eval settings from [rd]: the embedded sample set for `sample`, else the held-out clips' files."""
    rd = cfg.rd
    sources, size, pix_fmt = [], None, None
    if cfg.dataset != "sample":
        clips = [c for c in evaluation_clips(result) if c.path is not None]
        sources = [str(c.path) for c in clips]
        if clips and clips[0].raw:
            size, pix_fmt = clips[0].raw
    return RdEvalSettings(filters=filters, sources=sources, out=str(out), encoder=rd.get("encoder", "x265"),
                          bitrates=[float(b) for b in rd["bitrates"]] if "bitrates" in rd else None,
                          preset=rd.get("preset"), rate_control=rd.get("rate_control"), frames=rd.get("frames"),
                          size=size, pix_fmt=pix_fmt, jobs=int(rd.get("jobs", 1)))


def mean_bd(bdrate: pd.DataFrame, spec: str, metric: str) -> float:
    """Mean BD-rate of a filter over the sources where it could be computed."""
    values = bdrate[(bdrate["filter"] == spec) & (bdrate["metric"] == metric)]["bd_rate_percent"].dropna()
    return float(values.mean()) if len(values) else math.nan


def best_alpha(bdrate: pd.DataFrame, specs: list[str]) -> tuple[str, dict[str, float], list[str]] | None:
    """The candidate spec with the lowest mean VMAF BD-rate, compared on the same sources (those
    where every candidate has one); with the mean of each candidate and those sources. None when no
    source has them all."""
    vmaf = bdrate[(bdrate["metric"] == "vmaf") & bdrate["filter"].isin(specs)]
    table = vmaf.pivot_table(index="source", columns="filter", values="bd_rate_percent", dropna=False)
    common = table.reindex(columns=specs).dropna()
    if not len(common):
        return None
    scores = {spec: float(common[spec].mean()) for spec in specs}
    return min(scores, key=scores.get), scores, list(common.index)


def bd_table(bdrate: pd.DataFrame, specs: list[str]) -> pd.DataFrame:
    """One row per filter: mean BD-rate (%) for VMAF, VMAF NEG and PSNR-Y, and on how many sources."""
    rows = []
    for spec in specs:
        row = {"filter": spec}
        for metric in ("vmaf", "vmaf_neg", "psnr_y"):
            part = bdrate[(bdrate["filter"] == spec) & (bdrate["metric"] == metric)]["bd_rate_percent"]
            row[f"bd_{metric}_percent"] = float(part.dropna().mean()) if part.notna().any() else math.nan
            row[f"{metric}_sources"] = f"{int(part.notna().sum())}/{len(part)}"
        rows.append(row)
    return pd.DataFrame(rows)


def run_rd(cfg: ExperimentConfig, out: Path, runs: dict[str, TrainResult], first: TrainResult,
           filters: list[str], progress: bool, echo: Callable[[str], None]) -> pd.DataFrame:
    """rd-eval of `filters` plus the alpha candidates; figures and tables of the chosen filters in `out`."""
    families = {substitute(family, runs): [float(a) for a in alphas]
                for family, alphas in cfg.rd.get("candidates", {}).items()}
    candidate_specs = {family: [f"{family}:{a:g}" for a in alphas] for family, alphas in families.items()}
    every = list(dict.fromkeys(["none", *filters, *[s for specs in candidate_specs.values() for s in specs]]))
    result = rd_eval(rd_settings(cfg, first, every, out / "rd"), progress=progress, echo=echo)
    chosen = list(dict.fromkeys(["none", *filters]))
    best_rows = []
    for family, specs in candidate_specs.items():
        found = best_alpha(result.bdrate, specs)
        if found is None:
            echo(f"note: no source gives a VMAF BD-rate for every candidate of {family}; no best alpha chosen")
            continue
        best, scores, sources = found
        chosen.append(best)
        best_rows.append({"family": family, "best": best, "bd_vmaf_percent": scores[best],
                          "sources": ";".join(sources),
                          **{f"bd_vmaf_at_{s.rsplit(':', 1)[1]}": v for s, v in scores.items()}})
    chosen = list(dict.fromkeys(chosen))
    if best_rows:
        write_csv_atomic(pd.DataFrame(best_rows), out / "best_alpha.csv", "%.6f")
    subset = result.results[result.results["filter"].isin(chosen)]
    write_csv_atomic(subset, out / "results.csv", "%.6f")
    bdrate = bd_rates(subset)
    write_csv_atomic(bdrate, out / "bdrate.csv", "%.6f")
    table = bd_table(bdrate, [s for s in chosen if s != "none"])
    write_csv_atomic(table, out / "bdrate_summary.csv", "%.6f")
    write_rd_plots(subset, out, f"{cfg.name}: x265 {subset['preset'].iloc[0]}, against the source")
    return table


def run_visual(cfg: ExperimentConfig, out: Path, runs: dict[str, TrainResult]) -> list[str]:
    from filteropt.experiments.visual import visual_figure

    first = runs[cfg.train_filters[0]]
    clip = evaluation_clips(first)[0]
    v = cfg.visual
    unsharp_alpha, learned_alpha = float(v.get("unsharp_alpha", 0.5)), float(v.get("learned_alpha", 0.25))
    learned = build_filter(f"run:{first.folder}:{learned_alpha}")
    unsharp = build_filter(f"unsharp:7:{unsharp_alpha}")
    lines = visual_figure(clip.read(0, 1), clip.bit_depth, {
        "reference": None, f"unsharp 7x7, alpha {unsharp_alpha:g}": unsharp,
        f"learned 7x7, alpha {learned_alpha:g}": learned}, out / "fig1_visual.png",
        crop=int(v.get("crop", 64)), zoom=int(v.get("zoom", 4)), title=f"{clip.name}, frame 0")
    return lines


def run_tradeoff(cfg: ExperimentConfig, out: Path, runs: dict[str, TrainResult], progress: bool) -> list[str]:
    from filteropt.evaluation.alpha_sweep import parse_alphas

    first = runs[cfg.train_filters[0]]
    t = cfg.tradeoff
    report = sweep_run(out, first.module, cfg.train_filters[0], evaluation_clips(first),
                       [t.get("baseline", "unsharp:7:1")], tuple(parse_alphas(str(t.get("alphas", "0:1:0.05")))),
                       max_frames=int(t.get("frames", 16)), progress=progress, stem="tradeoff")
    zero = report.sweep[report.sweep["alpha"] == 0.0]
    lines = list(report.lines)
    if len(zero):
        lines.append(f"at alpha 0 (the identity) libvmaf gives VMAF {zero['vmaf'].iloc[0]:.2f} unclipped, "
                     f"{zero['vmaf_clipped'].iloc[0]:.2f} clipped: the model's score of a perfect copy, not 100")
    return lines


def run_cnn_vs_linear(cfg: ExperimentConfig, out: Path, runs: dict[str, TrainResult], progress: bool,
                      echo: Callable[[str], None]) -> list[str]:
    from filteropt.evaluation.alpha_sweep import parse_alphas

    if "linear7" not in runs or len(runs) < 2:
        raise FilteroptError("cnn_vs_linear trains linear7 and at least one CNN: set [train] filters")
    linear = runs["linear7"]
    clips = evaluation_clips(linear)
    alphas = tuple(parse_alphas(str(cfg.tradeoff.get("alphas", "0:1:0.05"))))
    lines = []
    linear_alpha = float(cfg.rd.get("linear_alpha", 0.25))
    with held_out_files(clips) as held:
        target = psnr_y(at_alpha(linear.module, linear_alpha), held)
        cnn_alphas = {name: strongest_alpha_at_psnr(r.module, held, target) for name, r in runs.items()
                      if name != "linear7"}
    for name, alpha in cnn_alphas.items():
        report = sweep_run(out, runs[name].module, name, clips, ["unsharp:7:1", f"run:{linear.folder}"], alphas,
                           progress=progress, stem=f"tradeoff_{name}")
        lines += report.lines
        lines.append(f"{name} at alpha {alpha:.4f} has the held-out PSNR of linear7 at alpha {linear_alpha:g} "
                     f"({target:.2f} dB); the RD comparison uses these strengths")
    filters = ["none", "unsharp:7:0.5", f"{{linear7}}:{linear_alpha:g}",
               *[f"{{{name}}}:{alpha:.4f}" for name, alpha in cnn_alphas.items()]]
    table = run_rd(cfg, out, runs, linear, [substitute(f, runs) for f in filters], progress, echo)
    lines += _bd_lines(table)
    return lines


def _bd_lines(table: pd.DataFrame) -> list[str]:
    return [f"{row['filter']}: mean BD-rate against none VMAF {row['bd_vmaf_percent']:+.2f} % "
            f"({row['vmaf_sources']} sources), VMAF NEG {row['bd_vmaf_neg_percent']:+.2f} % ({row['vmaf_neg_sources']}), "
            f"PSNR-Y {row['bd_psnr_y_percent']:+.2f} % ({row['psnr_y_sources']})" for _, row in table.iterrows()]


def run_experiment(path: str | Path, results: str | Path = "results", data_root: str | None = None,
                   progress: bool = True, echo: Callable[[str], None] = print) -> list[str]:
    """Run one experiment config into RESULTS/NAME/; returns (and saves in summary.json) its findings."""
    cfg = load_experiment(path)
    results = Path(results)
    out = results / cfg.name
    out.mkdir(parents=True, exist_ok=True)
    runs = train_filters(cfg, results / "runs", data_root or cfg.data_root, progress)
    for name, run in runs.items():
        if (run.folder / "ffmpeg_filter.txt").exists():
            echo(f"{name}: {(run.folder / 'ffmpeg_filter.txt').read_text().strip()}")
    if cfg.kind == "visual":
        lines = run_visual(cfg, out, runs)
    elif cfg.kind == "tradeoff":
        lines = run_tradeoff(cfg, out, runs, progress)
    elif cfg.kind == "rd":
        first = runs[cfg.train_filters[0]]
        filters = [substitute(f, runs) for f in cfg.rd.get("filters", ["none"])]
        lines = _bd_lines(run_rd(cfg, out, runs, first, filters, progress, echo))
    else:
        lines = run_cnn_vs_linear(cfg, out, runs, progress, echo)
    write_json_atomic(out / "summary.json", {"experiment": cfg.name, "kind": cfg.kind,
                                             "description": cfg.description, "findings": lines})
    return lines
