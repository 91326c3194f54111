"""Run luma frames through ffmpeg: a filter chain, or an encode/decode round trip."""

from __future__ import annotations

import tempfile
from pathlib import Path

import torch

from filteropt.media.ffmpeg import require_filters, run_ffmpeg
from filteropt.media.frames import read_luma, write_y4m


def ffmpeg_filter_frames(luma: torch.Tensor, vf: str, bit_depth: int = 8) -> torch.Tensor:
    """Apply an ffmpeg `-vf` chain (e.g. 'unsharp=5:5:1.0') to luma frames; returns the output luma."""
    with tempfile.TemporaryDirectory(prefix="filteropt-vf-") as tmp:
        src, out = Path(tmp) / "in.y4m", Path(tmp) / "out.y4m"
        write_y4m(src, luma, bit_depth)
        run_ffmpeg(["-i", str(src), "-vf", vf, "-strict", "-1", str(out)])
        return read_luma(out).frames


def x265_roundtrip(luma: torch.Tensor, bit_depth: int = 8, kbps: float | None = None,
                   crf: float | None = None, preset: str = "ultrafast", fps: int = 25) -> torch.Tensor:
    """Encode luma frames with libx265 (at `kbps` or `crf`) and decode them back."""
    require_filters(encoders=("libx265",))
    rate = ["-b:v", f"{kbps}k"] if kbps is not None else ["-crf", str(crf if crf is not None else 35)]
    pix_fmt = "yuv420p" if bit_depth == 8 else "yuv420p10le"
    height, width = luma.shape[-2:]
    # 4:2:0 needs even sizes: pad odd frames by repeating the edge, crop after decoding
    padded = torch.nn.functional.pad(luma, (0, width % 2, 0, height % 2), mode="replicate")
    with tempfile.TemporaryDirectory(prefix="filteropt-x265-") as tmp:
        src, enc, out = Path(tmp) / "in.y4m", Path(tmp) / "enc.mkv", Path(tmp) / "out.y4m"
        write_y4m(src, padded, bit_depth, fps=(fps, 1))
        run_ffmpeg(["-i", str(src), "-pix_fmt", pix_fmt, "-c:v", "libx265", "-preset", preset, *rate,
                    "-x265-params", "log-level=error", str(enc)])
        run_ffmpeg(["-i", str(enc), "-pix_fmt", pix_fmt.replace("420", "444"), "-strict", "-1", str(out)])
        return read_luma(out).frames[..., :height, :width]
