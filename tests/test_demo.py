"""`make demo` runs end to end on embedded data and shows agreement with libvmaf."""

from __future__ import annotations

import pytest

from filteropt.demo import run_demo
from filteropt.errors import FilteroptError


def test_demo_runs_and_agrees_with_libvmaf():
    lines: list[str] = []
    summary = run_demo(kbps=250.0, print_fn=lines.append)
    assert len(lines) > 12  # header, ten frames, mean, summary
    assert summary["max_abs_delta_float"] <= 0.005
    assert summary["max_abs_delta_exact"] <= 1e-3
    assert 20 < summary["libvmaf_float"] < 100  # x265 at a low rate visibly degrades the clip


def test_demo_rejects_bad_rate():
    with pytest.raises(FilteroptError, match="positive"):
        run_demo(kbps=0)
