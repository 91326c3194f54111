"""Synthetic clips from ffmpeg's generator sources (mandelbrot, life, cellauto, testsrc2, ...)."""

from __future__ import annotations

import io
import os
import subprocess
from pathlib import Path

import torch

from filteropt.errors import FilteroptError
from filteropt.io import temp_file_beside
from filteropt.media.ffmpeg import ffmpeg_exe, run_ffmpeg
from filteropt.media.frames import read_y4m_stream


def lavfi_clip(source: str, width: int, height: int, frames: int) -> torch.Tensor:
    """Luma [frames,1,height,width] (8-bit code values, float32) of an ffmpeg lavfi source.

    `source` is a source name with optional options, e.g. 'mandelbrot' or 'life=mold=10:seed=1';
    the size and a 25 fps rate are appended.
    """
    sep = ":" if "=" in source else "="
    spec = f"{source}{sep}size={width}x{height}:rate=25"
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i", spec,
           "-frames:v", str(frames), "-vf", "format=yuv420p", "-f", "yuv4mpegpipe", "-"]
    proc = subprocess.run(cmd, capture_output=True)
    if proc.returncode != 0:
        err = proc.stderr.decode(errors="replace").strip().splitlines()
        raise FilteroptError(f"ffmpeg source {source!r} failed: {err[-1] if err else 'unknown error'}")
    video = read_y4m_stream(io.BytesIO(proc.stdout), frames)
    return video.frames


def write_lavfi_video(graph: str, frames: int, out: Path, pix_fmt: str = "yuv420p") -> None:
    """Render `frames` frames of an ffmpeg lavfi graph into a lossless FFV1 .mkv (atomically)."""
    fd, tmp = temp_file_beside(out)
    os.close(fd)
    try:
        run_ffmpeg(["-y", "-f", "lavfi", "-i", graph, "-frames:v", str(frames), "-pix_fmt", pix_fmt,
                    "-c:v", "ffv1", "-level", "3", "-f", "matroska", tmp])
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
