"""Read luma frames from any video or image ffmpeg can read, or from raw .yuv; write y4m."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from filteropt.errors import FilteroptError
from filteropt.io import atomic_write
from filteropt.media.ffmpeg import ffmpeg_exe

# pixel format -> (chroma subsampling (x, y) or None for gray, bit depth)
RAW_PIX_FMTS: dict[str, tuple[tuple[int, int] | None, int]] = {
    "yuv420p": ((2, 2), 8),
    "yuv422p": ((2, 1), 8),
    "yuv444p": ((1, 1), 8),
    "yuv420p10le": ((2, 2), 10),
    "yuv422p10le": ((2, 1), 10),
    "yuv444p10le": ((1, 1), 10),
    "gray": (None, 8),
    "gray10le": (None, 10),
}

# y4m colour-space tag prefix -> chroma subsampling (None for luma only)
_Y4M_CHROMA: dict[str, tuple[int, int] | None] = {
    "420": (2, 2), "422": (2, 1), "444": (1, 1), "mono": None,
}


_DECODE_FORMATS = "|".join(
    ["yuv420p", "yuv422p", "yuv444p", "gray", "yuv420p10le", "yuv422p10le", "yuv444p10le", "gray10le"]
)


@dataclass
class LumaVideo:
    """Luma planes of a video: `frames` is float32 [N,1,H,W] holding integer code values."""

    frames: torch.Tensor
    bit_depth: int
    fps: tuple[int, int] = (25, 1)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height)."""
        return self.frames.shape[-1], self.frames.shape[-2]


def parse_size(size: str) -> tuple[int, int]:
    """'1920x1080' -> (1920, 1080)."""
    m = re.fullmatch(r"(\d+)[xX](\d+)", size.strip())
    if not m or int(m.group(1)) == 0 or int(m.group(2)) == 0:
        raise FilteroptError(f"bad frame size {size!r}; give it as WIDTHxHEIGHT, e.g. 1920x1080")
    return int(m.group(1)), int(m.group(2))


def _frame_bytes(width: int, height: int, pix_fmt: str) -> tuple[int, int, np.dtype]:
    """(bytes per frame, bytes of the luma plane, sample dtype) of a planar raw format."""
    sub, depth = RAW_PIX_FMTS[pix_fmt]
    sample = 1 if depth == 8 else 2
    luma = width * height
    chroma = 0 if sub is None else 2 * (-(-width // sub[0])) * (-(-height // sub[1]))
    dtype = np.dtype(np.uint8) if depth == 8 else np.dtype("<u2")
    return (luma + chroma) * sample, luma * sample, dtype


def raw_frame_count(path: str | Path, width: int, height: int, pix_fmt: str) -> int:
    """Number of frames of a raw planar .yuv file (a clear error if it is not whole frames)."""
    if pix_fmt not in RAW_PIX_FMTS:
        raise FilteroptError(
            f"unsupported raw pixel format {pix_fmt!r}; use one of {', '.join(RAW_PIX_FMTS)}"
        )
    frame_bytes, _, _ = _frame_bytes(width, height, pix_fmt)
    path = Path(path)
    try:
        total = path.stat().st_size
    except OSError as exc:
        raise FilteroptError(f"cannot read {path}: {exc.strerror}") from None
    if total == 0 or total % frame_bytes:
        raise FilteroptError(
            f"{path} has {total} bytes, not a whole number of {width}x{height} {pix_fmt} frames "
            f"({frame_bytes} bytes each); check --size and --pix-fmt"
        )
    return total // frame_bytes


def read_raw_yuv(path: str | Path, size: str | tuple[int, int], pix_fmt: str,
                 max_frames: int | None = None, start: int = 0) -> LumaVideo:
    """Read the luma planes of a raw planar .yuv file of known size and pixel format.

    Frames `start` .. `start + max_frames - 1` are read by memory map; nothing else is touched.
    """
    width, height = parse_size(size) if isinstance(size, str) else size
    count = raw_frame_count(path, width, height, pix_fmt) - start
    if max_frames is not None:
        count = min(count, max_frames)
    frame_bytes, luma_bytes, dtype = _frame_bytes(width, height, pix_fmt)
    data = np.memmap(path, dtype=np.uint8, mode="r", offset=start * frame_bytes, shape=(count, frame_bytes))
    luma = np.ascontiguousarray(data[:, :luma_bytes]).view(dtype).reshape(count, 1, height, width)
    bit_depth = RAW_PIX_FMTS[pix_fmt][1]
    return LumaVideo(torch.from_numpy(luma.astype(np.float32)), bit_depth)


def parse_y4m_header(line: bytes, source: str = "input") -> tuple[int, int, tuple[int, int], str, list[str]]:
    """Width, height, frame rate, colour-space tag and other fields of a YUV4MPEG2 header line."""
    fields = line.decode("ascii", errors="replace").split()
    if not fields or fields[0] != "YUV4MPEG2":
        raise FilteroptError(f"{source} is not a y4m stream (no YUV4MPEG2 header)")
    width = height = 0
    fps, colour, extra = (25, 1), "420jpeg", []
    for f in fields[1:]:
        if f[0] == "W":
            width = int(f[1:])
        elif f[0] == "H":
            height = int(f[1:])
        elif f[0] == "F":
            num, den = f[1:].split(":")
            fps = (int(num), int(den))
        elif f[0] == "C":
            colour = f[1:]
        else:
            extra.append(f)
    return width, height, fps, colour, extra


def _y4m_layout(colour: str) -> tuple[tuple[int, int] | None, int]:
    """Chroma subsampling and bit depth of a y4m colour tag such as 420jpeg, 422p10, mono."""
    m = re.fullmatch(r"(420|422|444|mono)(?:jpeg|paldv|mpeg2)?(?:p?(\d+))?", colour)
    if not m:
        raise FilteroptError(f"unsupported y4m colour space C{colour}")
    depth = int(m.group(2) or 8)
    return _Y4M_CHROMA[m.group(1)], depth


def read_y4m_stream(stream, max_frames: int | None = None) -> LumaVideo:
    """Read the luma planes of every frame of a y4m byte stream."""
    header = stream.readline()
    width, height, fps, colour, _ = parse_y4m_header(header)
    sub, depth = _y4m_layout(colour)
    if depth not in (8, 10):
        raise FilteroptError(f"unsupported bit depth {depth}; filteropt reads 8- and 10-bit video")
    sample = 1 if depth == 8 else 2
    luma_bytes = width * height * sample
    chroma_bytes = 0 if sub is None else 2 * (-(-width // sub[0])) * (-(-height // sub[1])) * sample
    dtype = np.uint8 if depth == 8 else np.dtype("<u2")
    planes = []
    while max_frames is None or len(planes) < max_frames:
        tag = stream.readline()
        if not tag:
            break
        if not tag.startswith(b"FRAME"):
            raise FilteroptError("corrupt y4m stream: missing FRAME marker")
        data = stream.read(luma_bytes + chroma_bytes)
        if len(data) < luma_bytes + chroma_bytes:
            raise FilteroptError("truncated y4m stream")
        planes.append(np.frombuffer(data[:luma_bytes], dtype=dtype).reshape(height, width))
    if not planes:
        raise FilteroptError("no frames decoded")
    frames = torch.from_numpy(np.stack(planes)[:, None].astype(np.float32))
    return LumaVideo(frames, depth, fps)


def read_luma(path: str | Path, size: str | tuple[int, int] | None = None,
              pix_fmt: str | None = None, max_frames: int | None = None) -> LumaVideo:
    """Luma of any input: raw .yuv needs `size` and `pix_fmt`; anything else is decoded by ffmpeg."""
    path = Path(path)
    if not path.is_file():
        raise FilteroptError(f"cannot read {path}: no such file")
    if path.suffix.lower() == ".yuv" or size is not None or pix_fmt is not None:
        if size is None:
            raise FilteroptError(f"{path} is raw video: give its frame size with --size WxH")
        return read_raw_yuv(path, size, pix_fmt or "yuv420p", max_frames)
    if path.suffix.lower() == ".y4m":
        with open(path, "rb") as f:
            return read_y4m_stream(f, max_frames)
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-i", str(path)]
    if max_frames is not None:
        cmd += ["-frames:v", str(max_frames)]
    # let ffmpeg pick the closest 8/10-bit planar format (RGB images become yuv444)
    cmd += ["-an", "-vf", f"format=pix_fmts={_DECODE_FORMATS}", "-f", "yuv4mpegpipe", "-strict", "-1", "-"]
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        try:
            video = read_y4m_stream(proc.stdout, max_frames)
        except FilteroptError as exc:
            proc.kill()
            err = proc.stderr.read().decode(errors="replace").strip().splitlines()
            raise FilteroptError(f"cannot read {path}: {err[-1] if err else exc}") from None
        proc.stdout.read()
        proc.wait()
    return video


def write_y4m(path: str | Path, luma: torch.Tensor, bit_depth: int = 8,
              fps: tuple[int, int] = (25, 1), chroma: str = "444") -> None:
    """Write luma frames [N,1,H,W] (code values) as a y4m with neutral chroma, atomically.

    `chroma`: "444" (any size) or "420" (even sizes; what encoders take).
    """
    if bit_depth not in (8, 10):
        raise FilteroptError(f"unsupported bit depth {bit_depth}")
    if chroma not in ("444", "420"):
        raise ValueError(f"chroma must be '444' or '420', not {chroma!r}")
    frames = luma.detach().cpu().reshape(-1, luma.shape[-2], luma.shape[-1])
    peak = (1 << bit_depth) - 1
    dtype = np.uint8 if bit_depth == 8 else np.dtype("<u2")
    codes = frames.round().clamp(0, peak).numpy().astype(dtype)
    height, width = codes.shape[-2:]
    if chroma == "420" and (height % 2 or width % 2):
        raise FilteroptError(f"4:2:0 y4m needs even frame sizes, not {width}x{height}")
    ch, cw = (height, width) if chroma == "444" else (height // 2, width // 2)
    chroma_bytes = np.full((2, ch, cw), 1 << (bit_depth - 1), dtype=dtype).tobytes()
    colour = {("444", 8): "444", ("444", 10): "444p10", ("420", 8): "420jpeg", ("420", 10): "420p10"}[chroma, bit_depth]
    with atomic_write(path, "wb") as f:
        f.write(f"YUV4MPEG2 W{width} H{height} F{fps[0]}:{fps[1]} Ip A1:1 C{colour}\n".encode())
        for plane in codes:
            f.write(b"FRAME\n")
            f.write(plane.tobytes())
            f.write(chroma_bytes)
