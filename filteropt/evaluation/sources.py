"""Sources to encode: the user's clips (anything ffmpeg reads, raw .yuv with size/format/rate) or the
embedded sample set (a synthetic 1080p game-like clip from ffmpeg's sources, photo pans at 384x216)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from filteropt.errors import FilteroptError
from filteropt.media.encode import SourceInput
from filteropt.media.frames import write_y4m
from filteropt.media.synthetic import write_lavfi_video
from filteropt.media.video import VideoReader, luma_plane

SAMPLE_VERSION = 1  # bump when the sample clips change: their files and job keys follow
SAMPLE_FRAMES = 60
# a side-scrolling, zooming camera over a detailed fractal "terrain" with a moving HUD in a corner:
# the synthetic stand-in for the video-game stream of the paper's RD figure
GAME_GRAPH = (
    "mandelbrot=s=2880x1620:rate=25:start_x=-0.743643887037151:start_y=0.13182590420533:"
    "start_scale=0.006:end_scale=0.006:maxiter=1024,trim=end_frame=1,loop=loop=-1:size=1,setpts=N/25/TB,"
    "zoompan=z='1.2+0.004*on':x='iw/2-iw/zoom/2+on*3.3':y='ih/2-ih/zoom/2+on*1.7':d=1:s=1920x1080:fps=25[bg];"
    "testsrc2=s=480x270:rate=25[hud];[bg][hud]overlay=40:40:shortest=1,format=yuv420p"
)
# (name, photo, velocity px/frame, zoom per frame) of the natural sample clips: slow sub-pixel pans
# at the photos' own pixel scale (detailed enough that x265 at the scaled ladder stays below VMAF 97)
SAMPLE_PANS = (("grass_pan", "grass", (0.21, 0.1), 0.0), ("gravel_pan", "gravel", (-0.2, 0.15), 0.001),
               ("chelsea_pan", "chelsea", (0.2, 0.1), 0.0))
SAMPLE_PAN_SIZE = (384, 216)


@dataclass(frozen=True)
class Source:
    """A source clip: how ffmpeg opens it, its format, and an identity for job keys."""

    name: str
    input: SourceInput
    width: int
    height: int
    pix_fmt: str
    fps: tuple[int, int]
    identity: str

    @property
    def bit_depth(self) -> int:
        return 10 if "10" in self.pix_fmt else 8

    @property
    def fps_value(self) -> float:
        return self.fps[0] / self.fps[1]


def open_source(path: str | Path, size: str | None = None, pix_fmt: str | None = None,
                fps: str | None = None, name: str | None = None, identity: str | None = None) -> Source:
    """Probe a source (FilteroptError when ffmpeg cannot read it)."""
    path = Path(path)
    raw = path.suffix.lower() == ".yuv" or size is not None or pix_fmt is not None
    with VideoReader(path, size, pix_fmt, fps if raw else None) as reader:
        fmt = reader.format
        first = next(iter(reader), None)
    if first is None:
        raise FilteroptError(f"cannot read {path}: it holds no frames")
    if fmt.width % 2 or fmt.height % 2:
        raise FilteroptError(f"{path} is {fmt.width}x{fmt.height}; 4:2:0 encoders need even sizes, crop it first")
    source_input = SourceInput(path.resolve(), size, pix_fmt or ("yuv420p" if raw else None), fps) if raw \
        else SourceInput(path.resolve())
    if identity is None:
        stat = path.stat()
        identity = f"file:{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"
    return Source(name or path.stem, source_input, fmt.width, fmt.height, fmt.pix_fmt, fmt.fps, identity)


def sample_sources(folder: Path, frames: int = SAMPLE_FRAMES) -> list[Source]:
    """The embedded sample clips, rendered into `folder` once (deterministic) and reused afterwards."""
    from filteropt.datasets.sample import pan_clip

    folder.mkdir(parents=True, exist_ok=True)
    out = []
    game = folder / f"game_1080p_v{SAMPLE_VERSION}_{frames}f.mkv"
    if not game.exists():
        write_lavfi_video(GAME_GRAPH, frames, game)
    out.append(open_source(game, name="game_1080p", identity=f"sample:game_1080p:v{SAMPLE_VERSION}:{frames}"))
    for name, photo, velocity, zoom in SAMPLE_PANS:
        width, height = SAMPLE_PAN_SIZE
        path = folder / f"{name}_{height}p_v{SAMPLE_VERSION}_{frames}f.y4m"
        if not path.exists():
            clip = pan_clip(photo, width, height, frames, velocity=velocity, zoom_per_frame=zoom)
            write_y4m(path, clip, 8, chroma="420")
        out.append(open_source(path, name=f"{name}_{height}p", identity=f"sample:{name}:v{SAMPLE_VERSION}:{frames}"))
    return out


def read_luma_codes(source: SourceInput | Path, max_frames: int | None = None) -> tuple[torch.Tensor, int]:
    """Luma of a video as integer codes [N,1,H,W] (uint8, or int16 for 10-bit) and its bit depth."""
    src = source if isinstance(source, SourceInput) else SourceInput(Path(source))
    planes = []
    with VideoReader(src.path, src.raw_size, src.raw_pix_fmt, src.raw_fps) as reader:
        fmt = reader.format
        for frame in reader:
            plane = luma_plane(fmt, frame)
            planes.append(plane.astype(np.int16) if fmt.bit_depth > 8 else plane.copy())
            if max_frames is not None and len(planes) >= max_frames:
                break
    if not planes:
        raise FilteroptError(f"{src.path} holds no frames")
    return torch.from_numpy(np.stack(planes))[:, None], fmt.bit_depth
