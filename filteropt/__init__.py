"""filteropt: learned pre-processing filters for video encoding, trained against a differentiable VMAF."""

__version__ = "0.1.0"
