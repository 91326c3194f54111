"""Any folder of clips ffmpeg reads (mkv, mp4, y4m, ...) and raw .yuv given a size and pixel format."""

from __future__ import annotations

import warnings
from pathlib import Path

from filteropt.datasets.clips import Clip, ClipSet, decoded_clip, raw_yuv_clip
from filteropt.errors import FilteroptError
from filteropt.media.frames import parse_size

# extensions skipped without a warning: not video
_NOT_VIDEO = {".txt", ".md", ".json", ".csv", ".py", ".pyc", ".log", ".xml", ".html", ".zip", ".tar", ".gz"}


def load_folder(data_root: str | Path | None, size: str | None = None, pix_fmt: str | None = None,
                max_frames: int = 32) -> ClipSet:
    """Every readable clip in `data_root` (sorted by name); unreadable ones are skipped with a warning."""
    if not data_root:
        raise FilteroptError("--dataset folder needs --data-root DIR (a folder of clips)")
    root = Path(data_root)
    if not root.is_dir():
        raise FilteroptError(f"clip folder {root} does not exist")
    candidates = sorted(p for p in root.iterdir()
                        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() not in _NOT_VIDEO)
    if not candidates:
        raise FilteroptError(f"clip folder {root} is empty: put video files (mkv, mp4, y4m, yuv) in it")
    clips: list[Clip] = []
    for path in candidates:
        try:
            if path.suffix.lower() == ".yuv":
                if size is None:
                    raise FilteroptError("raw .yuv needs --size WxH (and --pix-fmt)")
                width, height = parse_size(size)
                clips.append(raw_yuv_clip(path, width, height, pix_fmt or "yuv420p"))
            else:
                clips.append(decoded_clip(path, max_frames))
        except FilteroptError as exc:
            warnings.warn(f"skipping clip {path.name}: {exc}", stacklevel=2)
    if not clips:
        raise FilteroptError(f"no usable clip in {root}: every file failed to decode (see the warnings)")
    return ClipSet("folder", clips, {"root": root})
