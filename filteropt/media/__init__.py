"""The one place that runs ffmpeg: locate the binary, read frames, run libvmaf."""

from filteropt.media.ffmpeg import ffmpeg_exe, require_filters
from filteropt.media.frames import LumaVideo, read_luma, write_y4m
from filteropt.media.libvmaf import LIBVMAF_MODELS, LibvmafResult, libvmaf_on_files, libvmaf_on_tensors

__all__ = [
    "ffmpeg_exe",
    "require_filters",
    "LumaVideo",
    "read_luma",
    "write_y4m",
    "LIBVMAF_MODELS",
    "LibvmafResult",
    "libvmaf_on_files",
    "libvmaf_on_tensors",
]
