"""rd-eval and tradeoff: job results equal libvmaf run by hand, caching, BD-rate, and one-line errors."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from filteropt.cli.main import main
from filteropt.datasets.sample import pan_clip
from filteropt.errors import FilteroptError
from filteropt.evaluation import jobs as jobs_module
from filteropt.evaluation.bdrate import bd_rate, bd_rates
from filteropt.evaluation.presets import load_preset
from filteropt.evaluation.rd_eval import RdEvalSettings, parse_bitrates, rd_eval
from filteropt.evaluation.sources import sample_sources
from filteropt.media.frames import write_y4m
from filteropt.media.libvmaf import libvmaf_on_files
from filteropt.media.transform import ffmpeg_filter_frames


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    """12 frames of a 192x108 pan over a real photo, as 4:2:0 y4m."""
    path = tmp_path_factory.mktemp("src") / "cat.y4m"
    write_y4m(path, pan_clip("chelsea", 192, 108, 12, velocity=(0.6, 0.3)), chroma="420")
    return path


def quick(source: Path, out: Path, filters: str = "none,unsharp:5:0.8", bitrates: str = "150,400",
          **extra) -> RdEvalSettings:
    return RdEvalSettings(filters=[filters], sources=[str(source)], out=str(out), bitrates=parse_bitrates(bitrates),
                          preset="ultrafast", **extra)


@pytest.fixture(scope="module")
def quick_run(source, tmp_path_factory):
    out = tmp_path_factory.mktemp("rd")
    return rd_eval(quick(source, out), progress=False, echo=lambda *_: None)


def test_job_scores_equal_libvmaf_by_hand(quick_run, source, tmp_path):
    results = pd.read_csv(quick_run.out / "results.csv")
    assert len(results) == 4 and set(results["filter"]) == {"none", "unsharp:5:0.8"}
    for column in ("source", "filter", "encoder", "preset", "target_kbps", "actual_kbps", "vmaf", "vmaf_neg",
                   "psnr_y", "torch_vmaf", "filter_string", "encoder_version", "ffmpeg_version"):
        assert column in results.columns and results[column].notna().all(), column
    assert results["encoder_version"].str.startswith("x265").all()
    row = results[(results["filter"] == "unsharp:5:0.8") & (results["target_kbps"] == 400)].iloc[0]
    assert row["filter_string"].startswith("unsharp=")
    decoded = tmp_path / "decoded.y4m"
    from filteropt.media.ffmpeg import run_ffmpeg

    run_ffmpeg(["-i", row["bitstream"], "-f", "yuv4mpegpipe", "-pix_fmt", "yuv420p", str(decoded)])
    for model, column in (("vmaf_v0.6.1", "vmaf"), ("vmaf_v0.6.1neg", "vmaf_neg")):
        by_hand = libvmaf_on_files(source, decoded, model, clip=True, psnr=True)
        assert row[column] == pytest.approx(float(by_hand.column("vmaf").mean()), abs=1e-6)
    assert row["psnr_y"] == pytest.approx(float(by_hand.column("psnr_y").mean()), abs=1e-6)
    assert abs(row["torch_vmaf"] - row["vmaf"]) < 1.0  # float features vs libvmaf's integer ones
    size = Path(row["bitstream"]).stat().st_size
    assert row["actual_kbps"] == pytest.approx(size * 8 / 1000 / (12 / 25))
    # sharpening before the encoder raises VMAF and lowers PSNR against the original, at both rates
    none = results[results["filter"] == "none"].set_index("target_kbps")
    sharp = results[results["filter"] == "unsharp:5:0.8"].set_index("target_kbps")
    assert (sharp["vmaf"] > none["vmaf"]).all() and (sharp["psnr_y"] < none["psnr_y"]).all()
    for name in ("bdrate.csv", "rd_vmaf.png", "rd_vmaf_neg.png", "rd_psnr.png", "run.json"):
        assert (quick_run.out / name).stat().st_size > 0


def test_cached_rerun_encodes_nothing_and_changes_recompute_only_new_jobs(quick_run, source, monkeypatch):
    def no_encode(*args, **kwargs):
        raise AssertionError("a cached job was encoded again")

    monkeypatch.setattr(jobs_module, "encode", no_encode)
    again = rd_eval(quick(source, quick_run.out), progress=False, echo=lambda *_: None)
    assert again.ran == 0 and again.cached == 4
    pd.testing.assert_frame_equal(again.results, quick_run.results)
    monkeypatch.undo()
    # a new bitrate: only its two jobs run; results.csv holds this run's six rows, nothing else
    notes = []
    more = rd_eval(quick(source, quick_run.out, bitrates="150,250,400"), progress=False, echo=notes.append)
    assert more.ran == 2 and more.cached == 4
    assert sorted(pd.read_csv(more.out / "results.csv")["target_kbps"]) == [150, 150, 250, 250, 400, 400]
    assert any("other settings" in n for n in notes)
    # an interrupted run: a job whose result is missing is the only one redone
    victim = more.results.iloc[0]
    (Path(victim["bitstream"]).parent / "result.json").unlink()
    resumed = rd_eval(quick(source, quick_run.out, bitrates="150,250,400"), progress=False, echo=lambda *_: None)
    assert resumed.ran == 1 and resumed.cached == 5


def test_cnn_runs_through_torch_pipe(source, tmp_path, capsys):
    from filteropt.prefilters.cnn import ResidualCNN, save_cnn

    cnn = ResidualCNN("cnn3k")
    save_cnn(tmp_path / "cnn.pt", cnn)  # a fresh CNN is the identity: same encode as `none`
    out = tmp_path / "rd"
    assert main(["rd-eval", "--source", str(source), "--filters", f"none,cnn:{tmp_path / 'cnn.pt'}",
                 "--bitrates", "300", "--preset", "ultrafast", "--out", str(out), "--quiet"]) == 0
    results = pd.read_csv(out / "results.csv")
    assert results["filter_string"].iloc[1].startswith("torch pipe")
    assert results["vmaf"].iloc[0] == pytest.approx(results["vmaf"].iloc[1], abs=1e-9)
    assert "BD-rate" in capsys.readouterr().out


def test_dry_run_prints_commands_and_runs_nothing(source, tmp_path, capsys):
    out = tmp_path / "rd"
    assert main(["rd-eval", "--source", str(source), "--filters", "unsharp:5:0.5", "--bitrates", "200",
                 "--rate-control", "2pass", "--out", str(out), "--dry-run"]) == 0
    printed = capsys.readouterr().out
    assert "added the 'none' filter" in printed
    assert printed.count("pass=1") == 2 and printed.count("pass=2") == 2  # two jobs, two passes each
    assert "unsharp=" in printed and "libvmaf=" in printed and "-preset medium" in printed
    assert not (out / "jobs").exists() and not (out / "results.csv").exists()


def test_two_pass_and_x264(source, tmp_path):
    result = rd_eval(quick(source, tmp_path / "rd", filters="none", bitrates="300", rate_control="2pass",
                           encoder="x264"), progress=False, echo=lambda *_: None)
    row = result.results.iloc[0]
    assert row["encoder"] == "x264" and row["rate_control"] == "2pass" and row["encoder_version"].startswith("x264")
    assert not list((tmp_path / "rd" / "jobs").rglob("*stats*"))  # pass logs are cleaned up
    preset = load_preset("x265")
    assert preset.bitrates_kbps == (4000, 6000, 8000, 9500) and preset.preset == "medium"
    assert preset.ladder_for(960, 540)[0] == [1000, 1500, 2000, 2375]


def test_bd_rate_known_values_and_non_monotonic_curves():
    rates = np.array([1000.0, 2000.0, 4000.0, 8000.0])
    quality = np.array([80.0, 88.0, 93.0, 96.0])
    anchor = pd.DataFrame({"actual_kbps": rates, "vmaf": quality})
    cheaper = pd.DataFrame({"actual_kbps": rates * 0.8, "vmaf": quality})  # same quality, 20 % fewer bits
    value, note = bd_rate(anchor, cheaper, "vmaf")
    assert value == pytest.approx(-20.0, abs=1e-6) and note == ""
    saturated = pd.DataFrame({"actual_kbps": rates, "vmaf": [97.0, 99.5, 100.0, 100.0]})
    value, note = bd_rate(anchor, saturated, "vmaf")
    assert math.isnan(value) and "does not rise" in note and "saturated" in note
    shifted = pd.DataFrame({"actual_kbps": rates, "vmaf": quality + 15})  # shares 1 of 31 VMAF points
    value, note = bd_rate(anchor, shifted, "vmaf")
    assert math.isnan(value) and "share 3 %" in note
    table = pd.DataFrame({"source": "s", "filter": ["none"] * 4 + ["f"] * 4,
                          "actual_kbps": list(rates) + list(rates * 0.8), "vmaf": list(quality) * 2,
                          "vmaf_neg": list(quality) * 2, "psnr_y": list(quality / 2) * 2})
    out = bd_rates(table)
    assert list(out["metric"]) == ["vmaf", "vmaf_neg", "psnr_y"]
    assert np.allclose(out["bd_rate_percent"], -20.0)


def test_tradeoff_points_equal_libvmaf_on_ffmpeg_filtered_frames(source, tmp_path):
    out = tmp_path / "tr"
    assert main(["tradeoff", "--source", str(source), "--filters", "unsharp:5:1", "none", "--alphas", "0,0.5,1",
                 "--out", str(out), "--quiet"]) == 0
    table = pd.read_csv(out / "tradeoff.csv")
    assert len(table) == 6 and (out / "tradeoff.png").stat().st_size > 0
    assert {"vmaf", "vmaf_clipped", "psnr_y"} <= set(table.columns)
    point = table[(table["filter"] == "unsharp:5:1") & (table["alpha"] == 0.5)].iloc[0]
    from filteropt.media.frames import read_luma

    frames = read_luma(source).frames
    filtered = tmp_path / "f.y4m"
    write_y4m(filtered, ffmpeg_filter_frames(frames, "unsharp=5:5:0.5"))
    ref = tmp_path / "r.y4m"
    write_y4m(ref, frames)
    by_hand = libvmaf_on_files(ref, filtered, "vmaf_v0.6.1", clip=False, psnr=True)
    assert point["vmaf"] == pytest.approx(float(by_hand.column("vmaf").mean()), abs=1e-4)
    assert point["vmaf_clipped"] == pytest.approx(float(by_hand.column("vmaf").clamp(0, 100).mean()), abs=1e-4)
    assert point["psnr_y"] == pytest.approx(float(by_hand.column("psnr_y").mean()), abs=1e-4)


def test_bad_input_one_line(source, tmp_path, capsys):
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video" * 20)
    afile = tmp_path / "afile"
    afile.write_text("x")
    base = ["rd-eval", "--source", str(source), "--filters", "none", "--out", str(tmp_path / "o"), "--quiet"]
    cases = [
        (["rd-eval", "--source", str(junk), "--filters", "none", "--out", str(tmp_path / "o")], "cannot read"),
        ([*base, "--encoder", "vp9"], "unknown encoder"),
        ([*base, "--preset", "ludicrous"], "unknown preset"),
        ([*base, "--bitrates", "4000,-1"], "--bitrates"),
        ([*base, "--bitrates", "fast"], "--bitrates"),
        ([*base, "--filters", "blur:3"], "filter spec"),
        (["rd-eval", "--source", str(source), "--filters", "none", "--out", str(afile)], "is a file"),
        (["tradeoff", "--source", str(junk), "--filters", "none", "--out", str(tmp_path / "t")], "cannot read"),
        (["tradeoff", "--filters", "none", "--alphas", "2:1:1", "--out", str(tmp_path / "t")], "alpha"),
    ]
    for argv, needle in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and needle in err[0], (argv, err)


def test_failed_job_reported_and_results_complete(source, tmp_path, monkeypatch, capsys):
    real = jobs_module.encode

    def failing(src, settings, out, **kwargs):
        if settings.kbps == 400:
            raise FilteroptError("encoder failed: simulated")
        return real(src, settings, out, **kwargs)

    monkeypatch.setattr(jobs_module, "encode", failing)
    out = tmp_path / "rd"
    code = main(["rd-eval", "--source", str(source), "--filters", "none", "--bitrates", "150,400",
                 "--preset", "ultrafast", "--out", str(out), "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "1 of 2 jobs failed" in err[0] and "simulated" in err[0]
    assert list(pd.read_csv(out / "results.csv")["target_kbps"]) == [150]
    assert not list(out.glob(".*.part"))


@pytest.mark.slow
def test_sample_1080p_ladder_rates_and_quality(tmp_path):
    """On the embedded 1080p clip: `none` at 9500 kbps beats 4000 kbps, and x265 lands within 10 % of
    each target."""
    game = sample_sources(tmp_path / "sources")[0]
    assert (game.width, game.height) == (1920, 1080)
    settings = RdEvalSettings(filters=["none"], sources=[str(game.input.path)], out=str(tmp_path),
                              bitrates=[4000, 9500], rate_control="2pass")
    results = rd_eval(settings, progress=False, echo=lambda *_: None).results.set_index("target_kbps")
    assert results.loc[9500, "vmaf"] > results.loc[4000, "vmaf"] + 5
    ratio = results["actual_kbps"] / results.index
    assert ((ratio > 0.9) & (ratio < 1.1)).all(), ratio
