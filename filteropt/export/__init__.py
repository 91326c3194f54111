"""Export trained prefilters as ffmpeg filter strings."""

from filteropt.export.ffmpeg_filters import (
    ConvolutionExport,
    ConvolutionPass,
    linear_to_ffmpeg,
    unsharp_to_ffmpeg,
)

__all__ = ["ConvolutionExport", "ConvolutionPass", "linear_to_ffmpeg", "unsharp_to_ffmpeg"]
