"""Learnable prefilters whose deployed form is an ffmpeg filter, reproduced pixel for pixel, or a CNN."""

from filteropt.prefilters.cnn import CNN_ARCHS, ResidualCNN, save_cnn
from filteropt.prefilters.linear import LinearPrefilter, ffmpeg_convolution
from filteropt.prefilters.spec import FilterSpec, build_filter, parse_spec
from filteropt.prefilters.unsharp import UnsharpPrefilter, ffmpeg_unsharp

__all__ = ["CNN_ARCHS", "FilterSpec", "LinearPrefilter", "ResidualCNN", "UnsharpPrefilter", "build_filter",
           "ffmpeg_convolution", "ffmpeg_unsharp", "parse_spec", "save_cnn"]
