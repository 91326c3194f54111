"""The ffmpeg door: reading frames, writing y4m, finding ffmpeg, running libvmaf."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from filteropt.errors import FilteroptError
from filteropt.media import ffmpeg, frames, libvmaf_on_tensors, read_luma, require_filters, write_y4m
from filteropt.media.ffmpeg import run_ffmpeg


def _raw_yuv(tmp_path, width, height, n, pix_fmt, seed=0):
    """A raw file with random planes, written by numpy; returns (path, luma array)."""
    sub, depth = frames.RAW_PIX_FMTS[pix_fmt]
    rng = np.random.default_rng(seed)
    dtype = np.uint8 if depth == 8 else np.uint16
    luma = rng.integers(0, 1 << depth, size=(n, height, width), dtype=dtype)
    cw, ch = -(-width // sub[0]), -(-height // sub[1])
    chroma = rng.integers(0, 1 << depth, size=(n, 2, ch, cw), dtype=dtype)
    path = tmp_path / f"clip_{pix_fmt}.yuv"
    with open(path, "wb") as f:
        for i in range(n):
            f.write(luma[i].astype("<u2" if depth > 8 else np.uint8).tobytes())
            f.write(chroma[i].astype("<u2" if depth > 8 else np.uint8).tobytes())
    return path, luma


@pytest.mark.parametrize("pix_fmt", ["yuv420p", "yuv422p", "yuv444p", "yuv420p10le", "yuv444p10le"])
def test_raw_yuv_luma_matches_ffmpeg_decode(tmp_path, pix_fmt):
    width, height = 37, 21  # odd sizes exercise the chroma rounding
    path, luma = _raw_yuv(tmp_path, width, height, 3, pix_fmt)
    ours = read_luma(path, f"{width}x{height}", pix_fmt)
    assert ours.frames.shape == (3, 1, height, width)
    assert np.array_equal(ours.frames[:, 0].numpy(), luma.astype(np.float32))
    # ffmpeg's own reading of the same raw file, through a y4m round trip
    y4m = tmp_path / "via_ffmpeg.y4m"
    run_ffmpeg(["-f", "rawvideo", "-pix_fmt", pix_fmt, "-s", f"{width}x{height}", "-i", str(path),
                "-strict", "-1", str(y4m)])
    theirs = read_luma(y4m)
    assert theirs.bit_depth == ours.bit_depth
    assert torch.equal(theirs.frames, ours.frames)


def test_read_encoded_video_and_image(tmp_path, small_clip):
    src = tmp_path / "clip.y4m"
    write_y4m(src, small_clip)
    mkv = tmp_path / "clip.mkv"
    run_ffmpeg(["-i", str(src), "-c:v", "ffv1", str(mkv)])
    assert torch.equal(read_luma(mkv).frames, small_clip)
    png = tmp_path / "frame.png"
    run_ffmpeg(["-i", str(src), "-frames:v", "1", "-pix_fmt", "gray", str(png)])
    image = read_luma(png)
    assert image.frames.shape == (1, 1, 91, 161)
    assert image.bit_depth == 8


def test_y4m_round_trip_10bit(tmp_path, small_clip10):
    path = tmp_path / "ten.y4m"
    write_y4m(path, small_clip10, bit_depth=10)
    back = read_luma(path)
    assert back.bit_depth == 10
    assert torch.equal(back.frames, small_clip10)


def test_raw_size_not_whole_frames(tmp_path):
    path = tmp_path / "bad.yuv"
    path.write_bytes(b"\0" * 1000)
    with pytest.raises(FilteroptError, match="not a whole number"):
        read_luma(path, "16x16", "yuv420p")


def test_unreadable_inputs(tmp_path):
    with pytest.raises(FilteroptError, match="no such file"):
        read_luma(tmp_path / "missing.mp4")
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"this is not a video")
    with pytest.raises(FilteroptError, match="cannot read"):
        read_luma(junk)
    with pytest.raises(FilteroptError, match="--size"):
        read_luma(junk.with_suffix(".yuv").__class__(str(junk)), None, "yuv420p")


def test_ffmpeg_override_and_missing_filter(monkeypatch, tmp_path):
    monkeypatch.setenv(ffmpeg.FFMPEG_ENV, str(tmp_path / "no-ffmpeg"))
    ffmpeg.ffmpeg_exe.cache_clear()
    try:
        with pytest.raises(FilteroptError, match="FILTEROPT_FFMPEG"):
            ffmpeg.ffmpeg_exe()
    finally:
        monkeypatch.delenv(ffmpeg.FFMPEG_ENV)
        ffmpeg.ffmpeg_exe.cache_clear()
    require_filters("libvmaf", "convolution", encoders=("libx265", "libx264"))
    with pytest.raises(FilteroptError, match="lacks no_such_filter"):
        require_filters("no_such_filter")


def test_libvmaf_identical_still_frames():
    """libvmaf's score of a still frame against itself: features 1, motion 0, score 97.428 unclipped."""
    still = torch.full((2, 1, 64, 64), 100.0) + torch.arange(64.0)
    result = libvmaf_on_tensors(still, still, "vmaf_float_v0.6.1", clip=False)
    assert result.frames[0]["vif_scale0"] == 1.0 and result.frames[0]["adm2"] == 1.0
    assert result.frames[1]["motion2"] == 0.0
    assert result.column("vmaf").sub(97.428).abs().max() < 1e-3
    clipped = libvmaf_on_tensors(still, still, "vmaf_v0.6.1", clip=True)
    assert clipped.column("vmaf").le(100.0).all()
    assert clipped.column("adm2").sub(1.0).abs().max() < 1e-3  # the integer path is not exactly 1
