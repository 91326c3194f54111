"""BD-rate of each filter against `none`, per source and metric, with the bjontegaard package (pchip).

A curve whose quality does not rise with its rate (VMAF saturating near 100, an encoder overshooting)
cannot be interpolated: its BD-rate is left empty and the `note` column says why.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd

BD_METRICS = ("vmaf", "vmaf_neg", "psnr_y")
BD_COLUMNS = ("source", "filter", "anchor", "metric", "bd_rate_percent", "points", "note")


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
    """BD-rate in percent of `test` against `anchor` (rows with actual_kbps and `metric`), and a note."""
    import bjontegaard

    a = anchor.sort_values("actual_kbps")
    t = test.sort_values("actual_kbps")
    ra, qa = a["actual_kbps"].to_numpy(float), a[metric].to_numpy(float)
    rt, qt = t["actual_kbps"].to_numpy(float), t[metric].to_numpy(float)
    for rates, quality, who in ((ra, qa, "anchor"), (rt, qt, "filter")):
        problem = _curve_problem(rates, quality, who)
        if problem:
            return math.nan, f"not computed: {problem}"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            value = float(bjontegaard.bd_rate(ra, qa, rt, qt, method="pchip", require_matching_points=False))
        except (ValueError, AssertionError) as exc:
            return math.nan, f"not computed: {exc or type(exc).__name__}"
    note = "; ".join(str(w.message) for w in caught)
    if not math.isfinite(value):
        return math.nan, f"not computed: {note or 'no overlap in quality'}"
    return value, note


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
                rows.append({"source": source, "filter": name, "anchor": anchor, "metric": metric,
                             "bd_rate_percent": value, "points": len(rows_f), "note": note})
    return pd.DataFrame(rows, columns=list(BD_COLUMNS))
