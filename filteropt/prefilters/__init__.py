"""Learnable prefilters whose deployed form is an ffmpeg filter, reproduced pixel for pixel."""

from filteropt.prefilters.linear import LinearPrefilter, ffmpeg_convolution
from filteropt.prefilters.unsharp import UnsharpPrefilter, ffmpeg_unsharp

__all__ = ["LinearPrefilter", "UnsharpPrefilter", "ffmpeg_convolution", "ffmpeg_unsharp"]
