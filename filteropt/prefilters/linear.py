"""A learnable k x k luma kernel whose deployed form is ffmpeg's `convolution` filter, pixel for pixel."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from filteropt.errors import FilteroptError
from filteropt.export.ffmpeg_filters import (
    SQUARE_SIZES,
    ConvolutionExport,
    ConvolutionPass,
    linear_to_ffmpeg,
)


def mirror_indices(n: int, radius: int, device: torch.device | None = None) -> torch.Tensor:
    """Source indices of a line padded by `radius` on each side, mirrored without repeating the edge.

    Same as ffmpeg's avpriv_mirror (repeated reflection) and torch 'reflect' padding where that works.
    """
    idx = torch.arange(-radius, n + radius, device=device)
    if n == 1:
        return torch.zeros_like(idx)
    period = 2 * (n - 1)
    idx = idx.abs() % period
    return torch.where(idx > n - 1, period - idx, idx)


def mirror_pad(x: torch.Tensor, radius_y: int, radius_x: int) -> torch.Tensor:
    """Mirror-pad the last two dims of `x` (differentiable, any frame size)."""
    h, w = x.shape[-2:]
    x = x.index_select(-2, mirror_indices(h, radius_y, x.device))
    return x.index_select(-1, mirror_indices(w, radius_x, x.device))


def to_codes(x: torch.Tensor, bit_depth: int) -> torch.Tensor:
    """Integer code values (int64) of a frame, rounded and clipped as they are written to video."""
    if bit_depth not in (8, 10):
        raise FilteroptError(f"unsupported bit depth {bit_depth}; use 8 or 10")
    return x.detach().round().clamp(0, (1 << bit_depth) - 1).to(torch.int64)


def convolution_sum(codes: torch.Tensor, step: ConvolutionPass) -> torch.Tensor:
    """ffmpeg's integer sum of taps times mirrored pixels, int64 [N,1,H,W]."""
    taps = step.taps
    if step.mode == "square":
        r = taps.shape[0] // 2
        padded = mirror_pad(codes, r, r)
        h, w = codes.shape[-2:]
        total = torch.zeros_like(codes)
        for i in range(taps.shape[0]):
            for j in range(taps.shape[1]):
                if taps[i, j]:
                    total += int(taps[i, j]) * padded[..., i:i + h, j:j + w]
        return total
    axis = -1 if step.mode == "row" else -2
    r = len(taps) // 2
    n = codes.shape[axis]
    padded = codes.index_select(axis, mirror_indices(n, r, codes.device))
    total = torch.zeros_like(codes)
    for i, t in enumerate(taps):
        if t:
            total += int(t) * padded.narrow(axis, i, n)
    return total


def ffmpeg_convolution(x: torch.Tensor, export: ConvolutionExport, bit_depth: int = 8) -> torch.Tensor:
    """Exactly what ffmpeg's `convolution` chain `export.filter` outputs for luma frames x [N,1,H,W].

    Per pass: integer sum, then (int)(float32(sum) * rdiv + bias + 0.5f) clipped to [0, peak],
    with every float32 rounding step reproduced. Returns float32 code values.
    """
    codes = to_codes(x, bit_depth)
    peak = (1 << bit_depth) - 1
    for step in export.passes:
        total = convolution_sum(codes, step).to(torch.float32)
        value = total * torch.tensor(step.rdiv, dtype=torch.float32, device=x.device)
        value = value + torch.tensor(step.bias, dtype=torch.float32, device=x.device)
        value = value + torch.tensor(0.5, dtype=torch.float32, device=x.device)
        codes = value.trunc().clamp(0, peak).to(torch.int64)
    return codes.to(torch.float32)


class LinearPrefilter(nn.Module):
    """y = x + alpha * (conv(x, K) - x) on luma, K a learnable k x k kernel starting at the identity.

    Borders mirror like ffmpeg's convolution. With `mean_preserving` the kernel used is the weight
    projected onto taps summing to 1. `deploy` gives the exact frame of the exported ffmpeg string.
    """

    def __init__(self, size: int = 7, mean_preserving: bool = True, alpha: float = 1.0,
                 separable_export: bool = False) -> None:
        super().__init__()
        if size not in SQUARE_SIZES:
            raise FilteroptError(
                f"kernel size {size} is not supported; ffmpeg's convolution takes {SQUARE_SIZES}"
            )
        weight = torch.zeros(size, size)
        weight[size // 2, size // 2] = 1.0
        self.weight = nn.Parameter(weight)
        self.size = size
        self.mean_preserving = mean_preserving
        self.alpha = float(alpha)
        self.separable_export = separable_export

    def kernel(self) -> torch.Tensor:
        """The kernel in use (unit tap sum when mean preserving); differentiable in the weight."""
        if not self.mean_preserving:
            return self.weight
        return self.weight + (1.0 - self.weight.sum()) / self.weight.numel()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Float result for code-value frames x [N,1,H,W] (no rounding or clipping)."""
        kernel = self.kernel().to(dtype=x.dtype, device=x.device)
        r = self.size // 2
        filtered = F.conv2d(mirror_pad(x, r, r), kernel[None, None])
        return x + self.alpha * (filtered - x)

    def export(self) -> ConvolutionExport:
        """The ffmpeg `convolution` filter (and its integer taps) for the current kernel and alpha."""
        return linear_to_ffmpeg(self.kernel().detach(), self.alpha, separable=self.separable_export)

    def ffmpeg_filter(self) -> str:
        """The -vf string that applies this prefilter."""
        return self.export().filter

    @torch.no_grad()
    def deploy(self, x: torch.Tensor, bit_depth: int = 8) -> torch.Tensor:
        """The integer frame ffmpeg produces with `ffmpeg_filter()` (float32 code values)."""
        return ffmpeg_convolution(x, self.export(), bit_depth)
