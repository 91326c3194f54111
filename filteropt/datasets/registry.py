"""Load a dataset by name: netflix, sample or folder."""

from __future__ import annotations

from pathlib import Path

from filteropt.datasets.clips import ClipSet, tensor_clip
from filteropt.errors import FilteroptError

DATASETS = ("netflix", "sample", "folder")


def load_sample() -> ClipSet:
    """The embedded sample set: photo pans/zooms and ffmpeg synthetic clips (deterministic, no download)."""
    from filteropt.datasets.sample import sample_clip_tensors

    return ClipSet("sample", [tensor_clip(name, frames, 8) for name, frames in sample_clip_tensors().items()])


def load_dataset(name: str, data_root: str | Path | None = None, size: str | None = None,
                 pix_fmt: str | None = None, seed: int = 0) -> ClipSet:
    """The clips of dataset `name` (`seed` is accepted for the CLI; the clip lists are deterministic)."""
    if name == "sample":
        return load_sample()
    if name == "netflix":
        from filteropt.datasets.netflix import load_netflix

        return load_netflix(data_root)
    if name == "folder":
        from filteropt.datasets.folder import load_folder

        return load_folder(data_root, size=size, pix_fmt=pix_fmt)
    raise FilteroptError(f"unknown dataset {name!r}; choose from {', '.join(DATASETS)}")
