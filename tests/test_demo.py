"""`make demo`: the metric check agrees with libvmaf, and the whole short story runs end to end."""

from __future__ import annotations

import pytest

from filteropt.demo import metric_check, run_demo
from filteropt.errors import FilteroptError


def test_metric_check_agrees_with_libvmaf():
    lines: list[str] = []
    summary = metric_check(kbps=250.0, print_fn=lines.append)
    assert len(lines) > 12  # header, ten frames, mean, summary
    assert summary["max_abs_delta_float"] <= 0.005
    assert summary["max_abs_delta_exact"] <= 1e-3
    assert 20 < summary["libvmaf_float"] < 100  # x265 at a low rate visibly degrades the clip


def test_metric_check_rejects_bad_rate():
    with pytest.raises(FilteroptError, match="positive"):
        metric_check(kbps=0)


@pytest.mark.slow
def test_demo_end_to_end_short(tmp_path):
    """Train (a few steps), export, rd-eval on every sample source (4 frames, ultrafast); a rerun reuses it all."""
    lines: list[str] = []
    out = run_demo(tmp_path, steps=12, frames=4, preset="ultrafast", jobs=1, progress=False, print_fn=lines.append)
    text = "\n".join(lines)
    assert out["ffmpeg_filter"].startswith("convolution=") and out["ffmpeg_filter"] in text
    assert "BD-rate against no filter" in text
    results = out["results"]
    assert set(results["filter"]) == {"none", "unsharp:7:0.5", f"run:{tmp_path / 'train-linear7'}:0.25"}
    assert len(results) == 4 * 3 * 4  # 4 sources x 3 filters x 4 bitrates
    assert set(results[results["source"] == "game_1080p"]["target_kbps"]) == {4000, 6000, 8000, 9500}
    for name in ("rd/rd_vmaf.png", "rd/bdrate.csv", "train-linear7/sweep.png", "train-linear7/kernel.npy"):
        assert (tmp_path / name).stat().st_size > 0
    again: list[str] = []
    run_demo(tmp_path, steps=12, frames=4, preset="ultrafast", jobs=1, progress=False, print_fn=again.append)
    assert out["ffmpeg_filter"] in "\n".join(again)
