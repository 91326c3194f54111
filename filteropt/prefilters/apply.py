"""Filter a whole video with a prefilter spec: through its exported ffmpeg filter, or in torch deploy mode.

Only luma changes; chroma bytes, frame rate, pixel format and frame count are passed through.
"""

from __future__ import annotations

import os
import queue
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from filteropt.errors import FilteroptError
from filteropt.export.ffmpeg_filters import unsharp_overflows
from filteropt.io import check_writable
from filteropt.media.video import (
    VideoFormat,
    VideoReader,
    VideoWriter,
    ffmpeg_filter_stream,
    luma_plane,
    output_kind,
    with_luma,
)
from filteropt.prefilters.linear import LinearPrefilter, ffmpeg_convolution
from filteropt.prefilters.spec import FilterSpec, build_filter, deployed_filter_string
from filteropt.prefilters.unsharp import UnsharpPrefilter

ENGINES = ("auto", "ffmpeg", "torch")
# torch threads in a y4m pipe: measured on 2 loaded cores, 1 thread ran the small CNN pipe about 2x
# faster than 2 (threads waiting on each other while the ffmpeg processes hold the other core)
PIPE_THREADS = 1


@dataclass(frozen=True)
class ApplyResult:
    """What `apply_filter` did."""

    frames: int
    engine: str
    format: VideoFormat
    ffmpeg_filter: str | None


def ffmpeg_string(module: nn.Module, fmt: VideoFormat) -> str | None:
    """The -vf string that runs `module` on video of `fmt`, or None where ffmpeg cannot run it."""
    if isinstance(module, UnsharpPrefilter) and fmt.pix_fmt.startswith("gray"):
        return None  # ffmpeg's unsharp takes no gray input (it would convert the pixel format)
    return deployed_filter_string(module, fmt.bit_depth)


def choose_engine(module: nn.Module, engine: str, fmt: VideoFormat) -> str:
    """'ffmpeg' or 'torch': `auto` takes ffmpeg wherever it can run the filter."""
    if engine not in ENGINES:
        raise FilteroptError(f"unknown engine {engine!r}; use {', '.join(ENGINES)}")
    vf = ffmpeg_string(module, fmt)
    if engine == "ffmpeg" and vf is None:
        what = "a CNN" if not hasattr(module, "ffmpeg_filter") else f"unsharp on {fmt.pix_fmt}"
        raise FilteroptError(f"ffmpeg cannot run {what}; use --engine torch (or auto)")
    if engine == "auto":
        return "ffmpeg" if vf is not None else "torch"
    return engine


def deploy_function(module: nn.Module) -> Callable[[torch.Tensor, int], torch.Tensor]:
    """frame [1,1,H,W] code values, bit depth -> deployed frame; linear exports once, not per frame."""
    if isinstance(module, LinearPrefilter):
        export = module.export()
        return lambda x, bit_depth: ffmpeg_convolution(x, export, bit_depth)
    return module.deploy


def torch_frames(module: nn.Module, fmt: VideoFormat, frames: Iterable[bytes],
                 device: str | torch.device = "cpu") -> Iterator[bytes]:
    """Run each raw frame's luma through the module's deploy mode, keeping its chroma bytes."""
    deploy = deploy_function(module)
    try:
        for frame in frames:
            luma = luma_plane(fmt, frame)
            x = torch.from_numpy(luma.astype(np.float32))[None, None].to(device)
            with torch.inference_mode():
                y = deploy(x, fmt.bit_depth)
            yield with_luma(fmt, frame, y[0, 0].cpu().numpy())
    finally:
        if hasattr(frames, "close"):
            frames.close()


def prefetch(items: Iterable[bytes], depth: int = 3) -> Iterator[bytes]:
    """Iterate `items` in a background thread, at most `depth` ahead (overlaps decoding and filtering)."""
    box: queue.Queue = queue.Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def put(item: object) -> bool:
        """Queue `item` unless the consumer has gone; False once it has."""
        while not stop.is_set():
            try:
                box.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(item):
                    return
            put(done)
        except BaseException as exc:  # handed to the consumer
            put(exc)

    worker = threading.Thread(target=produce, daemon=True)
    worker.start()
    try:
        while True:
            item = box.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join(timeout=5)


def _same_file(a: str, b: str) -> bool:
    try:
        return a != "-" and b != "-" and os.path.exists(b) and os.path.samefile(a, b)
    except OSError:
        return False


def apply_filter(spec: str | FilterSpec, source: str | Path, target: str | Path, *, engine: str = "auto",
                 size: str | None = None, pix_fmt: str | None = None, fps: str | None = None,
                 device: str = "cpu", threads: int | None = None, progress: bool | None = None) -> ApplyResult:
    """Filter every frame of `source` into `target` ('-' for y4m on stdin/stdout).

    The target appears only when everything succeeded. `threads` sets torch's CPU threads (default:
    1 when streaming through stdin or stdout, where the ffmpeg processes beside it need the other
    cores; torch's default otherwise). `progress` (default: when OUT is a file and stderr a terminal)
    shows a progress bar on stderr.
    """
    source, target = str(source), str(target)
    if engine not in ENGINES:
        raise FilteroptError(f"unknown engine {engine!r}; use {', '.join(ENGINES)}")
    kind = output_kind(target)
    if kind != "stdout":
        check_writable(target)
        if Path(target).is_dir():
            raise FilteroptError(f"cannot write {target}: it is a folder; give a file name")
        if _same_file(source, target):
            raise FilteroptError(f"OUT {target} is the input; write to another file")
    if threads is None and "-" in (source, target):
        threads = PIPE_THREADS
    if threads is not None:
        if threads < 1:
            raise FilteroptError(f"--threads must be at least 1, got {threads}")
        torch.set_num_threads(threads)
    module = build_filter(spec)
    module = module.to(device).eval()
    with VideoReader(source, size, pix_fmt, fps) as reader:
        fmt = reader.format
        if isinstance(module, UnsharpPrefilter) and unsharp_overflows(module.size, fmt.bit_depth):
            raise FilteroptError(f"ffmpeg's unsharp overflows at {module.size}x{module.size} on "
                                 f"{fmt.bit_depth}-bit video; use size 11 or less")
        chosen = choose_engine(module, engine, fmt)
        vf = ffmpeg_string(module, fmt) if chosen == "ffmpeg" else None
        if chosen == "ffmpeg":
            frames = ffmpeg_filter_stream(fmt, reader, vf)
        else:
            frames = torch_frames(module, fmt, prefetch(reader), device)
        show = (kind != "stdout" and sys.stderr.isatty()) if progress is None else progress
        try:
            with VideoWriter(target, fmt) as writer:
                for frame in _progress(frames, reader.count, show, Path(source).name if source != "-" else "stdin"):
                    writer.write(frame)
                if writer.frames == 0:
                    raise FilteroptError(f"{source} holds no frames; nothing was written")
        finally:
            frames.close()  # stops the ffmpeg filter or the prefetch thread
        return ApplyResult(writer.frames, chosen, fmt, vf)


def _progress(frames: Iterable[bytes], total: int | None, show: bool, name: str) -> Iterable[bytes]:
    if not show:
        return frames
    from tqdm import tqdm

    return tqdm(frames, total=total, unit="frame", desc=name, file=sys.stderr, leave=False,
                dynamic_ncols=True)
