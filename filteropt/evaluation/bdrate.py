"""BD-rate of each filter against `none`, per source and metric, with the bjontegaard package (pchip).

A curve whose quality does not rise with its rate (VMAF saturating near 100, an encoder overshooting)
cannot be interpolated, and two curves that share less than MIN_OVERLAP of their quality range give
an average over a sliver (a strong prefilter shifts VMAF by more than the ladder spans): in both
cases the BD-rate is left empty and the `note` column says why. Between MIN_OVERLAP and 75 % the
value is given with a "low overlap" note.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd

BD_METRICS = ("vmaf", "vmaf_neg", "psnr_y")
BD_COLUMNS = ("source", "filter", "anchor", "metric", "bd_rate_percent", "points", "overlap", "note")
MIN_OVERLAP = 0.3


def quality_overlap(qa: np.ndarray, qt: np.ndarray) -> float:
    """Shared fraction of the two curves' combined quality range (0: disjoint, 1: identical ranges)."""
    total = max(qa.max(), qt.max()) - min(qa.min(), qt.min())
    shared = min(qa.max(), qt.max()) - max(qa.min(), qt.min())
    return max(shared, 0.0) / total if total > 0 else 1.0


def _curve_problem(rates: np.ndarray, quality: np.ndarray, who: str) -> str | None:
    if len(rates) < 2:
        return f"{who} has fewer than 2 points"
    if np.any(np.diff(rates) <= 0):
        return f"{who} has repeated rates"
    if np.any(np.diff(quality) <= 0):
        top = " (saturated near 100)" if np.nanmax(quality) > 99 else ""
        return f"{who} quality does not rise with rate{top}"
    return None


def bd_rate(anchor: pd.DataFrame, test: pd.DataFrame, metric: str) -> tuple[float, str]:
    """BD-rate in percent of `test` against `anchor` (rows with actual_kbps and `metric`), and a note
    (empty when the curves overlap well)."""
    import bjontegaard

    a = anchor.sort_values("actual_kbps")
    t = test.sort_values("actual_kbps")
    ra, qa = a["actual_kbps"].to_numpy(float), a[metric].to_numpy(float)
    rt, qt = t["actual_kbps"].to_numpy(float), t[metric].to_numpy(float)
    for rates, quality, who in ((ra, qa, "anchor"), (rt, qt, "filter")):
        problem = _curve_problem(rates, quality, who)
        if problem:
            return math.nan, f"not computed: {problem}"
    overlap = quality_overlap(qa, qt)
    if overlap < MIN_OVERLAP:
        return math.nan, (f"not computed: the curves share {100 * overlap:.0f} % of their {metric} range "
                          f"(minimum {100 * MIN_OVERLAP:.0f} %); a wider bitrate ladder would overlap more")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the overlap is judged above
        try:
            value = float(bjontegaard.bd_rate(ra, qa, rt, qt, method="pchip", require_matching_points=False,
                                              min_overlap=0))
        except (ValueError, AssertionError) as exc:
            return math.nan, f"not computed: {exc or type(exc).__name__}"
    if not math.isfinite(value):
        return math.nan, "not computed: no overlap in quality"
    return value, f"low overlap: {100 * overlap:.0f} % of the {metric} range" if overlap < 0.75 else ""


def bd_rate_text(bdrate: pd.DataFrame) -> str:
    """The BD-rates as a source/filter by metric table for a terminal (+x.xx %, n/a where empty)."""
    table = bdrate.pivot_table(index=["source", "filter"], columns="metric", values="bd_rate_percent",
                               sort=False, dropna=False)
    return table.to_string(float_format=lambda v: f"{v:+.2f}", na_rep="n/a")


def bd_rates(results: pd.DataFrame, anchor: str = "none") -> pd.DataFrame:
    """One row per (source, filter other than the anchor, metric); negative BD-rate = bits saved."""
    rows = []
    for source, per_source in results.groupby("source", sort=False):
        base = per_source[per_source["filter"] == anchor]
        for name, rows_f in per_source.groupby("filter", sort=False):
            if name == anchor:
                continue
            for metric in BD_METRICS:
                value, note = bd_rate(base, rows_f, metric) if len(base) else (math.nan, f"no '{anchor}' rows")
                overlap = (quality_overlap(base[metric].to_numpy(float), rows_f[metric].to_numpy(float))
                           if len(base) and len(rows_f) else math.nan)
                rows.append({"source": source, "filter": name, "anchor": anchor, "metric": metric,
                             "bd_rate_percent": value, "points": len(rows_f), "overlap": round(overlap, 3),
                             "note": note})
    return pd.DataFrame(rows, columns=list(BD_COLUMNS))
