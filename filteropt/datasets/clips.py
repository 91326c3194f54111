"""Clips as lazily read luma sources, and the clip set every dataset returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from filteropt.media import read_luma
from filteropt.media.frames import RAW_PIX_FMTS, raw_frame_count, read_raw_yuv


@dataclass
class Clip:
    """One clip: `read(start, count)` returns frames [count,1,H,W] float32 code values.

    `count_frames()` gives the number of frames (for decoded files it decodes on first call).
    """

    name: str
    height: int
    width: int
    bit_depth: int
    read: Callable[[int, int], torch.Tensor]
    count_frames: Callable[[], int]
    path: Path | None = None  # the file behind the clip, if any
    raw: tuple[str, str] | None = None  # (WxH, pixel format) when `path` is raw .yuv


@dataclass
class ClipSet:
    """The clips of a dataset (training material) plus dataset-specific extras (e.g. distorted videos)."""

    name: str
    clips: list[Clip]
    extras: dict = field(default_factory=dict)


def tensor_clip(name: str, frames: torch.Tensor, bit_depth: int) -> Clip:
    """A clip held in memory as [N,1,H,W] code values."""
    frames = frames.to(torch.float32)
    n, _, h, w = frames.shape
    return Clip(name, h, w, bit_depth, lambda start, count: frames[start:start + count], lambda: n)


def raw_yuv_clip(path: str | Path, width: int, height: int, pix_fmt: str = "yuv420p") -> Clip:
    """A raw planar .yuv clip read by memory map: only the requested frames are touched."""
    path = Path(path)
    count = raw_frame_count(path, width, height, pix_fmt)

    def read(start: int, n: int) -> torch.Tensor:
        return read_raw_yuv(path, (width, height), pix_fmt, max_frames=n, start=start).frames

    return Clip(path.name, height, width, RAW_PIX_FMTS[pix_fmt][1], read, lambda: count, path,
                (f"{width}x{height}", pix_fmt))


def decoded_clip(path: str | Path, max_frames: int = 32) -> Clip:
    """A clip ffmpeg decodes: probed now (one frame); its first `max_frames` decoded on first use."""
    path = Path(path)
    probe = read_luma(path, max_frames=1)  # raises FilteroptError if unreadable
    cache: dict[str, np.ndarray] = {}

    def codes() -> np.ndarray:
        if "f" not in cache:  # kept as integers: a quarter of the float32 memory
            frames = read_luma(path, max_frames=max_frames).frames
            cache["f"] = frames.numpy().astype(np.uint16)
        return cache["f"]

    def read(start: int, n: int) -> torch.Tensor:
        return torch.from_numpy(codes()[start:start + n].astype(np.float32))

    return Clip(path.name, probe.frames.shape[-2], probe.frames.shape[-1], probe.bit_depth, read,
                lambda: codes().shape[0], path)
