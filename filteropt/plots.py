"""Figures: training curves, VMAF-vs-PSNR trade-off lines with alpha labels, RD curves (PNG, atomic)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, never a window
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from filteropt.io import atomic_write  # noqa: E402


def save_figure(fig: plt.Figure, path: str | Path) -> None:
    """Write a figure as PNG atomically and close it."""
    with atomic_write(path, "wb") as f:
        fig.savefig(f, format="png", dpi=120, bbox_inches="tight")
    plt.close(fig)


def training_curve(log: pd.DataFrame, path: str | Path, title: str = "") -> None:
    """Training VMAF and PSNR per step (with a moving average) and held-out values where logged."""
    fig, (ax_v, ax_p) = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
    window = max(1, len(log) // 50)
    for ax, key, label in ((ax_v, "vmaf", "VMAF (unclipped)"), (ax_p, "psnr", "PSNR-Y (dB)")):
        ax.plot(log["step"], log[key], color="0.8", lw=0.8, label="batch")
        ax.plot(log["step"], log[key].rolling(window, min_periods=1).mean(), color="C0", label=f"mean of {window}")
        held = log.dropna(subset=[f"held_out_{key}"]) if f"held_out_{key}" in log else log.iloc[0:0]
        if len(held):
            ax.plot(held["step"], held[f"held_out_{key}"], "o-", color="C3", ms=3, label="held-out crops")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    ax_v.legend(loc="lower right", fontsize=8)
    ax_p.set_xlabel("step")
    if title:
        ax_v.set_title(title)
    save_figure(fig, path)


def tradeoff_plot(sweep: pd.DataFrame, path: str | Path, title: str = "", label_every: float = 0.1,
                  vmaf_column: str = "vmaf") -> None:
    """VMAF against PSNR-Y, one line per filter, points labelled with alpha (every `label_every`)."""
    fig, ax = plt.subplots(figsize=(8, 6))
    for i, (name, rows) in enumerate(sweep.groupby("filter", sort=False)):
        rows = rows.sort_values("alpha")
        color = f"C{i}"
        ax.plot(rows["psnr_y"], rows[vmaf_column], "o-", color=color, ms=3, label=name)
        for _, row in rows.iterrows():
            steps = row["alpha"] / label_every
            if abs(steps - round(steps)) < 1e-6:
                ax.annotate(f"{row['alpha']:g}", (row["psnr_y"], row[vmaf_column]), textcoords="offset points",
                            xytext=(4, 4), fontsize=7, color=color)
    ax.set_xlabel("PSNR-Y against the source (dB)")
    ax.set_ylabel("VMAF" + (" (unclipped)" if vmaf_column == "vmaf" else ""))
    ax.invert_xaxis()  # stronger filtering to the right
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    save_figure(fig, path)


RD_METRIC_LABELS = {"vmaf": "VMAF (vmaf_v0.6.1)", "vmaf_neg": "VMAF NEG (vmaf_v0.6.1neg)", "psnr_y": "PSNR-Y (dB)"}


def rd_curves(results: pd.DataFrame, metric: str, path: str | Path, title: str = "") -> None:
    """Quality against actual bitrate, one panel per source, one curve per filter."""
    sources = list(dict.fromkeys(results["source"]))
    cols = min(2, len(sources))
    rows = (len(sources) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(6.5 * cols, 4.5 * rows), squeeze=False, constrained_layout=True)
    filters = list(dict.fromkeys(results["filter"]))
    for ax, source in zip(axes.flat, sources):
        part = results[results["source"] == source]
        for i, name in enumerate(filters):
            curve = part[part["filter"] == name].sort_values("actual_kbps")
            if len(curve):
                ax.plot(curve["actual_kbps"], curve[metric], "o-", color=f"C{i}", ms=4, label=name)
        ax.set_title(source, fontsize=10)
        ax.set_xlabel("actual bitrate (kbps)")
        ax.set_ylabel(RD_METRIC_LABELS.get(metric, metric))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(sources):]:
        ax.axis("off")
    if title:
        fig.suptitle(title)
    save_figure(fig, path)
