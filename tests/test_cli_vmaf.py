"""`filteropt vmaf`: output, JSON contract, and one-line errors with exit code 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

from filteropt.media import write_y4m
from filteropt.media.transform import ffmpeg_filter_frames

JSON_FRAME_KEYS = {"vmaf", "adm2", "motion2", "vif_scale0", "vif_scale1", "vif_scale2", "vif_scale3"}


def run_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "filteropt.cli.main", *args], capture_output=True,
                          text=True, env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def pair(tmp_path_factory, small_clip):
    folder = tmp_path_factory.mktemp("pair")
    ref, dis = folder / "ref.y4m", folder / "dis.y4m"
    write_y4m(ref, small_clip)
    write_y4m(dis, ffmpeg_filter_frames(small_clip, "unsharp=5:5:1.0"))
    return ref, dis


def test_vmaf_json_with_libvmaf(pair, tmp_path):
    out = tmp_path / "scores.json"
    proc = run_cli("vmaf", str(pair[0]), str(pair[1]), "--no-clip", "--libvmaf", "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "pooled" in proc.stdout and "libvmaf" in proc.stdout
    data = json.loads(out.read_text())
    assert data["model"] == "vmaf_v0.6.1"
    assert len(data["frames"]) == 4 and set(data["frames"][0]) == JSON_FRAME_KEYS
    assert set(data["libvmaf"]["frames"][0]) == JSON_FRAME_KEYS
    ours = [f["vmaf"] for f in data["frames"]]
    assert data["pooled"]["vmaf"] == pytest.approx(sum(ours) / len(ours))
    assert max(ours) > 100  # sharpened and unclipped
    # --libvmaf with vmaf_v0.6.1 compares with libvmaf's default (integer) path: close, not equal
    lib = [f["vmaf"] for f in data["libvmaf"]["frames"]]
    assert max(abs(a - b) for a, b in zip(ours, lib)) < 0.5


def test_vmaf_clipped_by_default(pair):
    proc = run_cli("vmaf", str(pair[0]), str(pair[1]))
    assert proc.returncode == 0, proc.stderr
    scores = [float(line.split()[1]) for line in proc.stdout.splitlines() if line.split()[:1] and line.split()[0].isdigit()]
    assert len(scores) == 4 and max(scores) <= 100.0


def _assert_one_line_error(proc: subprocess.CompletedProcess, needle: str) -> None:
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert needle in lines[0], lines[0]


def test_bad_inputs(pair, tmp_path, small_clip):
    ref = str(pair[0])
    other_size = tmp_path / "other.y4m"
    write_y4m(other_size, small_clip[:, :, :80, :150])
    _assert_one_line_error(run_cli("vmaf", ref, str(other_size)), "differ in shape")
    fewer = tmp_path / "fewer.y4m"
    write_y4m(fewer, small_clip[:3])
    _assert_one_line_error(run_cli("vmaf", ref, str(fewer)), "frames")
    raw = tmp_path / "raw.yuv"
    raw.write_bytes(b"\0" * 1001)
    _assert_one_line_error(run_cli("vmaf", str(raw), str(raw), "--size", "32x32"), "not a whole number")
    _assert_one_line_error(run_cli("vmaf", ref, ref, "--model", "vmaf_v9"), "invalid choice")
    _assert_one_line_error(run_cli("vmaf", ref, str(tmp_path / "missing.mkv")), "no such file")
    junk = tmp_path / "junk.mp4"
    junk.write_text("not a video")
    _assert_one_line_error(run_cli("vmaf", ref, str(junk)), "cannot read")
    tiny = tmp_path / "tiny.y4m"
    write_y4m(tiny, small_clip[:, :, :12, :12])
    _assert_one_line_error(run_cli("vmaf", str(tiny), str(tiny)), "too small")
    _assert_one_line_error(run_cli("vmaf", ref, ref, "--libvmaf", env={"FILTEROPT_FFMPEG": str(tmp_path / "nope")}),
                           "FILTEROPT_FFMPEG")
    _assert_one_line_error(run_cli("vmaf", ref, ref, "--json", str(tmp_path / "no" / "dir.json")),
                           "does not exist")


def test_ten_bit_raw(tmp_path, small_clip10):
    """10-bit raw input: our score follows libvmaf's convention (values divided by 4)."""
    ref = tmp_path / "ref.yuv"
    codes = small_clip10[:, 0].to(torch.int32).numpy().astype("<u2")
    chroma = bytes(2 * 2 * 36 * 64)  # yuv420p10le chroma planes of 128x72, zeros are fine for luma metrics
    with open(ref, "wb") as f:
        for plane in codes:
            f.write(plane.tobytes())
            f.write(chroma)
    out = tmp_path / "s.json"
    proc = run_cli("vmaf", str(ref), str(ref), "--size", "128x72", "--pix-fmt", "yuv420p10le",
                   "--no-clip", "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    frames = json.loads(out.read_text())["frames"]
    assert frames[0]["vmaf"] == pytest.approx(97.428, abs=1e-3)  # identical frames, no motion


def test_closed_stdout_pipe_stops_quietly():
    """`filteropt ... | head` closing the pipe early: exit 1, no traceback."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        proc = subprocess.run([sys.executable, "-m", "filteropt.cli.main", "export", "--filter", "unsharp:5:1"],
                              stdout=write_end, stderr=subprocess.PIPE, text=True)
    finally:
        os.close(write_end)
    assert proc.returncode == 1 and proc.stderr == "", proc.stderr
