"""The filters `filteropt train` learns, and how a finished run saves one so `run:DIR` loads it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from filteropt.errors import FilteroptError
from filteropt.io import atomic_write, write_json_atomic
from filteropt.prefilters.cnn import ResidualCNN, save_cnn
from filteropt.prefilters.linear import LinearPrefilter
from filteropt.prefilters.spec import RUN_FILTER_FILE


@dataclass(frozen=True)
class TrainableFilter:
    """A filter choice of `--filter`: what it builds and its default steps and learning rates."""

    name: str
    description: str
    steps: int
    lr_sgd: float
    lr_adam: float

    def build(self) -> nn.Module:
        """A fresh filter, equal to the identity."""
        if self.name == "linear7":
            return LinearPrefilter(7)
        return ResidualCNN(CNN_ARCH_OF[self.name])


CNN_ARCH_OF = {"cnn-small": "cnn3k", "cnn-medium": "cnn30k"}

TRAINABLE_FILTERS: dict[str, TrainableFilter] = {
    f.name: f
    for f in (
        TrainableFilter("linear7", "7x7 luma kernel (taps sum to 1), exported as ffmpeg convolution",
                        steps=1500, lr_sgd=5e-5, lr_adam=2e-3),
        TrainableFilter("cnn-small", "residual CNN, 2,912 parameters (cnn3k)", steps=1000, lr_sgd=1e-4,
                        lr_adam=1e-3),
        TrainableFilter("cnn-medium", "residual CNN, 27,760 parameters (cnn30k)", steps=600, lr_sgd=1e-4,
                        lr_adam=1e-3),
    )
}


def trainable_filter(name: str) -> TrainableFilter:
    """The `--filter` choice `name`, or a clear error listing the choices."""
    if name not in TRAINABLE_FILTERS:
        raise FilteroptError(f"unknown filter {name!r} to train; choose from {', '.join(TRAINABLE_FILTERS)}")
    return TRAINABLE_FILTERS[name]


def filter_output(module: nn.Module, frames: torch.Tensor, bit_depth: int) -> torch.Tensor:
    """The (float, unrounded) output of a trainable filter on code-value frames [N,1,H,W]."""
    if isinstance(module, ResidualCNN):
        return module(frames, bit_depth)
    return module(frames)


def save_final_filter(folder: Path, module: nn.Module) -> dict:
    """Write the trained filter into a run folder and its `filter.json`; returns the json written.

    linear: `kernel.npy` (float64 taps) and `ffmpeg_filter.txt` (the -vf string at alpha 1);
    CNN: `cnn.pt` (checkpoint; `filteropt export --filter run:DIR` gives its TorchScript).
    """
    if isinstance(module, LinearPrefilter):
        kernel = module.kernel().detach().double().cpu().numpy()
        with atomic_write(folder / "kernel.npy", "wb") as f:
            np.save(f, kernel)
        with atomic_write(folder / "ffmpeg_filter.txt") as f:
            f.write(module.ffmpeg_filter() + "\n")
        meta = {"kind": "linear", "kernel": "kernel.npy", "alpha": 1.0}
    elif isinstance(module, ResidualCNN):
        save_cnn(folder / "cnn.pt", module)
        meta = {"kind": "cnn", "checkpoint": "cnn.pt", "alpha": 1.0}
    else:
        raise TypeError(f"cannot save a {type(module).__name__}")
    write_json_atomic(folder / RUN_FILTER_FILE, meta)
    return meta
