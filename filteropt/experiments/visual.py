"""Figure 1: a reference frame and its filtered versions, full and as a magnified detailed crop."""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from filteropt.plots import plt, save_figure


def most_detailed_crop(frame: torch.Tensor, size: int) -> tuple[int, int]:
    """(y, x) of the size x size window of [1,1,H,W] with the highest pixel variance."""
    size = min(size, frame.shape[-2], frame.shape[-1])
    x = frame.double()
    mean = F.avg_pool2d(x, size, stride=max(1, size // 4))
    var = F.avg_pool2d(x * x, size, stride=max(1, size // 4)) - mean * mean
    idx = int(var.flatten().argmax())
    stride = max(1, size // 4)
    return (idx // var.shape[-1]) * stride, (idx % var.shape[-1]) * stride


def visual_figure(frame: torch.Tensor, bit_depth: int, versions: dict[str, nn.Module | None], path: Path,
                  crop: int = 64, zoom: int = 4, title: str = "") -> list[str]:
    """Columns: each version (None = the reference itself) as deployed, full frame above, the most
    detailed crop magnified `zoom` times (nearest neighbour) below. Returns one line per version."""
    peak = (1 << bit_depth) - 1
    frame = frame.to(torch.float32)
    y0, x0 = most_detailed_crop(frame, crop)
    images, lines = {}, []
    for label, module in versions.items():
        image = frame if module is None else module.deploy(frame, bit_depth)
        images[label] = image[0, 0]
        if module is not None:
            mse = float(((image.double() - frame.double()) ** 2).mean())
            psnr = 10 * math.log10(peak * peak / mse) if mse > 0 else math.inf
            lines.append(f"{label}: PSNR-Y {psnr:.2f} dB against the reference frame")
    cols = len(images)
    fig, axes = plt.subplots(2, cols, figsize=(4.2 * cols, 8), squeeze=False, constrained_layout=True)
    for i, (label, image) in enumerate(images.items()):
        axes[0, i].imshow(image.numpy(), cmap="gray", vmin=0, vmax=peak, interpolation="nearest")
        axes[0, i].add_patch(plt.Rectangle((x0, y0), crop, crop, fill=False, edgecolor="red", lw=1))
        axes[0, i].set_title(label, fontsize=10)
        part = image[y0:y0 + crop, x0:x0 + crop]
        big = part.repeat_interleave(zoom, 0).repeat_interleave(zoom, 1)
        axes[1, i].imshow(big.numpy(), cmap="gray", vmin=0, vmax=peak, interpolation="nearest")
        axes[1, i].set_title(f"crop {crop}x{crop} at ({x0}, {y0}), x{zoom}", fontsize=9)
        for ax in axes[:, i]:
            ax.set_xticks([])
            ax.set_yticks([])
    if title:
        fig.suptitle(title)
    save_figure(fig, path)
    return lines
