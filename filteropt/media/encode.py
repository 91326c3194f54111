"""Encode sources with a prefilter in the graph, decode bitstreams, and read tool versions.

The ffmpeg command lines are built with ffmpeg-python. Linear kernels and unsharp masking run as
ffmpeg filters inside the encode graph; CNNs (or any torch-only filter) reach the encoder as y4m on
its stdin ("the torch pipe"). Every output is written beside its target and renamed at the end.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import ffmpeg

from filteropt.errors import FilteroptError
from filteropt.io import temp_file_beside
from filteropt.media.ffmpeg import ffmpeg_exe, last_line, require_filters, run_ffmpeg
from filteropt.media.video import VideoFormat


@dataclass(frozen=True)
class SourceInput:
    """How ffmpeg opens a source: a file it can probe, or raw .yuv with size, pixel format and rate."""

    path: Path
    raw_size: str | None = None
    raw_pix_fmt: str | None = None
    raw_fps: str | None = None

    def input_kwargs(self) -> dict[str, str]:
        """ffmpeg-python input options."""
        if self.raw_size is None:
            return {}
        return {"f": "rawvideo", "pix_fmt": self.raw_pix_fmt or "yuv420p", "s": self.raw_size,
                "framerate": self.raw_fps or "25"}

    def input_args(self) -> list[str]:
        """The same as command-line arguments ending in `-i PATH`."""
        args: list[str] = []
        for key, value in self.input_kwargs().items():
            args += [f"-{key}", str(value)]
        return [*args, "-i", str(self.path)]


@dataclass(frozen=True)
class EncoderSettings:
    """One encode: codec, preset, target rate, pixel format and codec parameters (key=value)."""

    codec: str
    muxer: str
    pix_fmt: str
    preset: str
    kbps: float
    params_option: str
    params: dict[str, str] = field(default_factory=dict)
    passes: int = 1
    pass_params: tuple[dict[str, str], ...] = ()  # per pass when passes == 2; "{stats}" is replaced

    def params_for_pass(self, index: int, stats: Path | None) -> str:
        """The codec parameter string of pass `index` (0-based)."""
        merged = dict(self.params)
        if self.passes == 2:
            merged.update({k: v.replace("{stats}", str(stats)) for k, v in self.pass_params[index].items()})
        return ":".join(f"{k}={v}" for k, v in merged.items())


def _output_kwargs(settings: EncoderSettings, frames: int | None, pass_index: int, stats: Path | None,
                   vf: str | None) -> dict[str, object]:
    kwargs: dict[str, object] = {"vcodec": settings.codec, "preset": settings.preset,
                                 "b:v": f"{settings.kbps:g}k", "pix_fmt": settings.pix_fmt}
    params = settings.params_for_pass(pass_index, stats)
    if params:
        kwargs[settings.params_option] = params
    if frames is not None:
        kwargs["frames:v"] = frames
    if vf:
        kwargs["vf"] = vf
    return kwargs


def encode_commands(source: SourceInput | None, settings: EncoderSettings, out: Path, *, vf: str | None = None,
                    frames: int | None = None, stats: Path | None = None) -> list[list[str]]:
    """The ffmpeg command lines of an encode (one per pass). `source=None`: y4m frames on stdin."""
    commands = []
    for index in range(settings.passes):
        last = index == settings.passes - 1
        stream = (ffmpeg.input(str(source.path), **source.input_kwargs()) if source is not None
                  else ffmpeg.input("pipe:", f="yuv4mpegpipe"))
        target, muxer = (str(out), settings.muxer) if last else ("-", "null")
        kwargs = _output_kwargs(settings, frames, index, stats, vf)
        node = stream.output(target, f=muxer, **kwargs).global_args("-hide_banner", "-nostdin", "-loglevel",
                                                                    "error", "-y")
        cmd = node.compile(cmd=ffmpeg_exe())
        if source is None:
            cmd.remove("-nostdin")
        commands.append(cmd)
    return commands


def _run(cmd: Sequence[str], stdin_frames: tuple[VideoFormat, Iterable[bytes]] | None = None) -> None:
    """Run one ffmpeg command; with `stdin_frames` feed it a y4m stream. FilteroptError on failure."""
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE if stdin_frames else subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=errors)
        failure: list[BaseException] = []
        if stdin_frames is not None:
            fmt, frames = stdin_frames
            try:
                proc.stdin.write(fmt.y4m_header())
                for frame in frames:
                    proc.stdin.write(b"FRAME\n")
                    proc.stdin.write(frame)
            except BrokenPipeError:
                pass
            except BaseException as exc:
                failure.append(exc)
                proc.kill()
            finally:
                try:
                    proc.stdin.close()
                except BrokenPipeError:
                    pass
        code = proc.wait()
        if failure:
            raise failure[0]
        if code != 0:
            errors.seek(0)
            raise FilteroptError(f"encoder failed: {last_line(errors.read()) or f'exit code {code}'}")


def encode(source: SourceInput, settings: EncoderSettings, out: Path, *, vf: str | None = None,
           frames: int | None = None, torch_frames: Callable | None = None) -> None:
    """Encode `source` (first `frames` frames) into bitstream `out`, the prefilter applied on the way.

    `vf`: an ffmpeg filter chain inside the encode graph. `torch_frames`: a function returning
    (VideoFormat, raw frames) of the filtered source, streamed to the encoder's stdin (each pass
    calls it again). The bitstream appears at `out` only when every pass succeeded.
    """
    require_filters(encoders=(settings.codec,))
    fd, tmp = temp_file_beside(out)
    os.close(fd)
    stats = Path(tmp + ".stats") if settings.passes == 2 else None
    try:
        commands = encode_commands(None if torch_frames else source, settings, Path(tmp), vf=vf, frames=frames,
                                   stats=stats)
        for cmd in commands:
            _run(cmd, torch_frames() if torch_frames else None)
        os.replace(tmp, out)
    finally:  # the partial bitstream, and x264/x265 pass logs (stats file and its .cutree/.temp)
        for leftover in [Path(tmp), *Path(tmp).parent.glob(Path(tmp).name + ".stats*")]:
            leftover.unlink(missing_ok=True)


def decode_command(bitstream: Path, out: Path, pix_fmt: str) -> list[str]:
    """ffmpeg command decoding a bitstream into y4m."""
    node = ffmpeg.input(str(bitstream)).output(str(out), f="yuv4mpegpipe", pix_fmt=pix_fmt, strict="-1")
    return node.global_args("-hide_banner", "-nostdin", "-loglevel", "error", "-y").compile(cmd=ffmpeg_exe())


def decode(bitstream: Path, out: Path, pix_fmt: str) -> None:
    """Decode a bitstream into a y4m file (atomically)."""
    fd, tmp = temp_file_beside(out)
    os.close(fd)
    try:
        _run(decode_command(bitstream, Path(tmp), pix_fmt))
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


_ENCODER_SEI = re.compile(rb"(x265 \(build \d+\) - [0-9A-Za-z.+_-]+|x264 - core \d+(?: r\d+ [0-9a-f]+)?)")


def bitstream_encoder_version(bitstream: Path) -> str:
    """The encoder version x265/x264 write into their first SEI message ('' when absent)."""
    with open(bitstream, "rb") as f:
        head = f.read(1 << 16)
    match = _ENCODER_SEI.search(head)
    return match.group(1).decode(errors="replace") if match else ""


def ffmpeg_version() -> str:
    """The first line of `ffmpeg -version`, e.g. 'ffmpeg version 7.1 ...'."""
    out = run_ffmpeg(["-version"], quiet=False).stdout.decode(errors="replace").splitlines()
    return out[0].strip() if out else ""

