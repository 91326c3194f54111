"""Whole videos as streams of raw frames (all planes kept): read, write, and filter through ffmpeg.

Inputs: `-` (y4m on stdin), `.y4m`, raw `.yuv` (size and pixel format given), or anything ffmpeg
decodes (streamed to us as y4m). Outputs by extension: `-` (y4m on stdout), `.y4m`, `.yuv`, `.mkv`
(lossless FFV1). Files are written to a temporary file beside the target and renamed at the end,
so a failure leaves nothing at the target.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np

from filteropt.errors import FilteroptError
from filteropt.io import temp_file_beside
from filteropt.media.ffmpeg import ffmpeg_exe, last_line
from filteropt.media.frames import _DECODE_FORMATS, RAW_PIX_FMTS, parse_size, parse_y4m_header

OUTPUT_SUFFIXES = (".y4m", ".yuv", ".mkv")

# pixel format <-> y4m colour tag (the tag ffmpeg writes; 420jpeg/420mpeg2/420paldv all read as yuv420p)
_Y4M_TAGS = {
    "yuv420p": "420jpeg", "yuv422p": "422", "yuv444p": "444", "gray": "mono",
    "yuv420p10le": "420p10", "yuv422p10le": "422p10", "yuv444p10le": "444p10", "gray10le": "mono10",
}


@dataclass(frozen=True)
class VideoFormat:
    """Frame geometry and pixel format of a planar 8/10-bit video, plus y4m header details to keep."""

    width: int
    height: int
    pix_fmt: str
    fps: tuple[int, int] = (25, 1)
    y4m_colour: str | None = None  # the input's own C tag, written back unchanged
    y4m_extra: tuple[str, ...] = ("Ip", "A1:1")  # other header fields (interlacing, aspect, X...)

    @property
    def bit_depth(self) -> int:
        """8 or 10."""
        return RAW_PIX_FMTS[self.pix_fmt][1]

    @property
    def dtype(self) -> np.dtype:
        """Sample type of the raw planes."""
        return np.dtype(np.uint8) if self.bit_depth == 8 else np.dtype("<u2")

    @property
    def luma_bytes(self) -> int:
        """Bytes of the luma plane of one frame."""
        return self.width * self.height * self.dtype.itemsize

    @property
    def frame_bytes(self) -> int:
        """Bytes of one frame, all planes."""
        sub = RAW_PIX_FMTS[self.pix_fmt][0]
        chroma = 0 if sub is None else 2 * (-(-self.width // sub[0])) * (-(-self.height // sub[1]))
        return self.luma_bytes + chroma * self.dtype.itemsize

    def y4m_header(self) -> bytes:
        """The YUV4MPEG2 stream header line."""
        colour = self.y4m_colour or _Y4M_TAGS[self.pix_fmt]
        plain = [f for f in self.y4m_extra if not f.startswith("X")]
        comments = [f for f in self.y4m_extra if f.startswith("X")]
        fields = [f"W{self.width}", f"H{self.height}", f"F{self.fps[0]}:{self.fps[1]}",
                  *plain, f"C{colour}", *comments]
        return ("YUV4MPEG2 " + " ".join(fields) + "\n").encode()


def luma_plane(fmt: VideoFormat, frame: bytes) -> np.ndarray:
    """The luma plane [H,W] of one raw frame (a read-only view)."""
    return np.frombuffer(frame, dtype=fmt.dtype, count=fmt.width * fmt.height).reshape(fmt.height, fmt.width)


def with_luma(fmt: VideoFormat, frame: bytes, luma: np.ndarray) -> bytes:
    """The raw frame with its luma plane replaced (chroma bytes kept as they are)."""
    return luma.astype(fmt.dtype, copy=False).tobytes() + frame[fmt.luma_bytes:]


def parse_fps(text: str) -> tuple[int, int]:
    """'25', '30000/1001' or '29.97' -> (num, den)."""
    m = re.fullmatch(r"\s*(\d+)\s*(?:[/:]\s*(\d+))?\s*", text)
    if m and int(m.group(1)) > 0 and int(m.group(2) or 1) > 0:
        return int(m.group(1)), int(m.group(2) or 1)
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise FilteroptError(f"bad frame rate {text!r}; give it as N or N/D, e.g. 25 or 30000/1001")
    return round(value * 1000), 1000


def _parse_y4m_stream_header(line: bytes, source: str) -> VideoFormat:
    """VideoFormat of a YUV4MPEG2 header line (FilteroptError if it is not one we handle)."""
    width, height, fps, colour, extra = parse_y4m_header(line, source)
    m = re.fullmatch(r"(420|422|444|mono)(?:jpeg|paldv|mpeg2)?(?:p?(\d+))?", colour)
    depth = int(m.group(2) or 8) if m else 0
    if not m or depth not in (8, 10) or width <= 0 or height <= 0:
        raise FilteroptError(f"{source}: unsupported y4m format C{colour} {width}x{height}; "
                             "filteropt handles 8- and 10-bit 420/422/444/mono")
    layout = {"420": "yuv420p", "422": "yuv422p", "444": "yuv444p", "mono": "gray"}[m.group(1)]
    pix_fmt = layout + ("" if depth == 8 else "10le")
    return VideoFormat(width, height, pix_fmt, fps, colour, tuple(extra))


def _read_exact(stream: IO[bytes], size: int) -> bytes:
    data = stream.read(size)
    if len(data) < size:
        raise FilteroptError(f"truncated video: a frame ended after {len(data)} of {size} bytes")
    return data


class VideoReader:
    """Frames of one input as raw bytes (all planes). Use as a context manager; iterate for frames."""

    def __init__(self, source: str | Path, size: str | None = None, pix_fmt: str | None = None,
                 fps: str | None = None) -> None:
        self.source = str(source)
        self.count: int | None = None  # frames, when known up front
        self._proc: subprocess.Popen | None = None
        self._errors: IO[bytes] | None = None
        self._stream: IO[bytes]
        self._raw = False
        path = Path(self.source)
        if self.source == "-" and (size or pix_fmt or fps):
            raise FilteroptError("stdin (-) must carry y4m, which has its own size, format and rate; "
                                 "drop --size/--pix-fmt/--fps")
        raw = self.source != "-" and (path.suffix.lower() == ".yuv" or size is not None or pix_fmt is not None)
        if self.source != "-" and not path.is_file():
            raise FilteroptError(f"cannot read {self.source}: no such file")
        if raw:
            self._open_raw(path, size, pix_fmt or "yuv420p", fps)
            return
        if fps is not None:
            raise FilteroptError("--fps is for raw .yuv input only; y4m and encoded inputs carry their frame rate")
        if self.source == "-":
            self._stream = sys.stdin.buffer
        elif path.suffix.lower() == ".y4m":
            self._stream = open(path, "rb")
        else:
            self._open_decoder(path)
        try:
            header = self._stream.readline()
            if not header and self._proc is not None:
                self._proc.wait()
                raise FilteroptError(f"cannot read {self.source}: {self.decoder_error() or 'ffmpeg found no video'}")
            self.format = _parse_y4m_stream_header(header, "stdin" if self.source == "-" else self.source)
        except BaseException:
            self.close()
            raise
        if self._proc is None and self.source != "-":
            self._count_y4m(path)

    def _open_raw(self, path: Path, size: str | None, pix_fmt: str, fps: str | None) -> None:
        if size is None:
            raise FilteroptError(f"{path} is raw video: give its frame size with --size WxH")
        if pix_fmt not in RAW_PIX_FMTS:
            raise FilteroptError(f"unsupported raw pixel format {pix_fmt!r}; use one of {', '.join(RAW_PIX_FMTS)}")
        width, height = parse_size(size)
        self.format = VideoFormat(width, height, pix_fmt, parse_fps(fps) if fps else (25, 1))
        total = path.stat().st_size
        if total == 0 or total % self.format.frame_bytes:
            raise FilteroptError(
                f"{path} has {total} bytes, not a whole number of {width}x{height} {pix_fmt} frames "
                f"({self.format.frame_bytes} bytes each); check --size and --pix-fmt")
        self.count = total // self.format.frame_bytes
        self._stream = open(path, "rb")
        self._raw = True

    def _open_decoder(self, path: Path) -> None:
        """Start ffmpeg decoding `path` to y4m on a pipe (first video stream, frames passed as they are)."""
        self._errors = tempfile.TemporaryFile()
        cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-i", str(path),
               "-map", "0:v:0", "-fps_mode", "passthrough", "-vf", f"format=pix_fmts={_DECODE_FORMATS}",
               "-f", "yuv4mpegpipe", "-strict", "-1", "-"]
        self._proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self._errors)
        self._stream = self._proc.stdout

    def _count_y4m(self, path: Path) -> None:
        """Frame count of a y4m file whose frames carry no parameters (else unknown)."""
        body = path.stat().st_size - self._stream.tell()
        per_frame = len(b"FRAME\n") + self.format.frame_bytes
        if body % per_frame == 0:
            self.count = body // per_frame

    def decoder_error(self) -> str | None:
        """The last line the ffmpeg decoder wrote to stderr, if any."""
        if self._errors is None:
            return None
        self._errors.seek(0)
        return last_line(self._errors.read())

    def __iter__(self) -> Iterator[bytes]:
        """Each frame's bytes in order (FilteroptError on a truncated or undecodable input)."""
        size = self.format.frame_bytes
        if self._raw:
            while True:
                data = self._stream.read(size)
                if not data:
                    return
                if len(data) < size:
                    raise FilteroptError(f"{self.source}: truncated last frame")
                yield data
        while True:
            tag = self._stream.readline()
            if not tag:
                break
            if not tag.startswith(b"FRAME"):
                raise FilteroptError(f"{self.source}: corrupt y4m stream (missing FRAME marker)")
            yield _read_exact(self._stream, size)
        if self._proc is not None and self._proc.wait() != 0:
            raise FilteroptError(f"cannot decode {self.source}: {self.decoder_error() or 'ffmpeg failed'}")

    def close(self) -> None:
        """Stop the decoder or close the file (stdin stays open)."""
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.kill()
            self._proc.wait()
            self._proc.stdout.close()
        elif self.source != "-" and hasattr(self, "_stream"):
            self._stream.close()
        if self._errors is not None:
            self._errors.close()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def output_kind(path: str | Path) -> str:
    """'stdout', 'y4m', 'yuv' or 'mkv' from OUT; FilteroptError for other extensions."""
    if str(path) == "-":
        return "stdout"
    suffix = Path(path).suffix.lower()
    if suffix not in OUTPUT_SUFFIXES:
        raise FilteroptError(f"cannot write {path}: use an output ending in .y4m, .yuv or .mkv (lossless FFV1), "
                             "or - for y4m on stdout")
    return suffix[1:]


class VideoWriter:
    """Write raw frames to OUT (format from its extension); the file appears only on success.

    Use as a context manager: leaving it with an exception removes the temporary file.
    """

    def __init__(self, target: str | Path, fmt: VideoFormat) -> None:
        self.target = str(target)
        self.kind = output_kind(target)
        self.format = fmt
        self.frames = 0
        self._tmp: str | None = None
        self._proc: subprocess.Popen | None = None
        self._errors: IO[bytes] | None = None
        if self.kind == "stdout":
            self._stream = sys.stdout.buffer
        else:
            path = Path(self.target)
            if path.is_dir():
                raise FilteroptError(f"cannot write {path}: it is a folder; give a file name")
            fd, self._tmp = temp_file_beside(path)
            if self.kind == "mkv":
                os.close(fd)
                self._errors = tempfile.TemporaryFile()
                cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
                       "-f", "yuv4mpegpipe", "-i", "-", "-map", "0:v:0", "-fps_mode", "passthrough",
                       "-c:v", "ffv1", "-level", "3", "-g", "1", "-f", "matroska", self._tmp]
                self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                              stderr=self._errors)
                self._stream = self._proc.stdin
            else:
                self._stream = os.fdopen(fd, "wb")
        if self.kind != "yuv":
            self._write(fmt.y4m_header())

    def _write(self, data: bytes) -> None:
        try:
            self._stream.write(data)
        except BrokenPipeError:
            raise FilteroptError(f"cannot write {self.target}: {self._encoder_error() or 'the reader closed the pipe'}") from None

    def _encoder_error(self) -> str | None:
        if self._errors is None:
            return None
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self._errors.seek(0)
        return last_line(self._errors.read())

    def write(self, frame: bytes) -> None:
        """Append one raw frame."""
        if len(frame) != self.format.frame_bytes:
            raise FilteroptError(f"internal: frame of {len(frame)} bytes, expected {self.format.frame_bytes}")
        if self.kind != "yuv":
            self._write(b"FRAME\n")
        self._write(frame)
        self.frames += 1

    def commit(self) -> None:
        """Finish the file and move it onto the target."""
        if self.kind == "stdout":
            self._stream.flush()
            return
        try:
            self._stream.close()
        except BrokenPipeError:
            pass
        if self._proc is not None and self._proc.wait() != 0:
            raise FilteroptError(f"cannot write {self.target}: {self._encoder_error() or 'ffmpeg failed'}")
        try:
            os.replace(self._tmp, self.target)
        except OSError as exc:
            raise FilteroptError(f"cannot write {self.target}: {exc.strerror}; choose another OUT") from None
        self._tmp = None

    def abort(self) -> None:
        """Drop everything written so far."""
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.kill()
            self._proc.wait()
        if self.kind != "stdout":
            try:
                self._stream.close()
            except OSError:
                pass
        if self._tmp is not None and os.path.exists(self._tmp):
            os.unlink(self._tmp)
        self._tmp = None

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type: type | None, *rest: object) -> None:
        try:
            if exc_type is None:
                self.commit()
        finally:
            self.abort()
            if self._errors is not None:
                self._errors.close()


def ffmpeg_filter_stream(fmt: VideoFormat, frames: Iterable[bytes], vf: str) -> Iterator[bytes]:
    """Run raw frames of `fmt` through `ffmpeg -vf vf` (y4m in, y4m out, same pixel format), lazily."""
    errors = tempfile.TemporaryFile()
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-f", "yuv4mpegpipe", "-i", "-",
           "-vf", vf, "-fps_mode", "passthrough", "-pix_fmt", fmt.pix_fmt, "-f", "yuv4mpegpipe",
           "-strict", "-1", "-"]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors)
    failure: list[BaseException] = []
    sent = [0]

    def feed() -> None:
        try:
            proc.stdin.write(fmt.y4m_header())
            for frame in frames:
                proc.stdin.write(b"FRAME\n")
                proc.stdin.write(frame)
                sent[0] += 1
        except BrokenPipeError:
            pass
        except BaseException as exc:  # re-raised in the caller's thread
            failure.append(exc)
        finally:
            try:
                proc.stdin.close()
            except BrokenPipeError:
                pass

    def ffmpeg_error() -> str:
        errors.seek(0)
        return f"ffmpeg failed: {last_line(errors.read()) or 'no output'} (filter {vf})"

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    received = 0
    try:
        header = proc.stdout.readline()
        if not header:
            proc.wait()
            if failure:
                raise failure[0]
            raise FilteroptError(ffmpeg_error())
        out = _parse_y4m_stream_header(header, "ffmpeg's filter output")
        if (out.width, out.height, out.pix_fmt) != (fmt.width, fmt.height, fmt.pix_fmt):
            raise FilteroptError(f"ffmpeg changed the video format to {out.width}x{out.height} {out.pix_fmt}")
        while True:
            tag = proc.stdout.readline()
            if not tag:
                break
            yield _read_exact(proc.stdout, fmt.frame_bytes)
            received += 1
        feeder.join()
        if failure:
            raise failure[0]
        if proc.wait() != 0:
            raise FilteroptError(ffmpeg_error())
        if received != sent[0]:
            raise FilteroptError(f"ffmpeg returned {received} frames for {sent[0]} (filter {vf})")
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        feeder.join(timeout=5)
        proc.stdout.close()
        errors.close()
