"""A torch twin of ffmpeg's `unsharp` filter on luma: smooth for training, pixel exact for deployment.

What ffmpeg does (libavfilter/vf_unsharp.c, checked against the binary at 8 and 10 bit):
- blur: separable binomial of order 2*(size//2) in each direction (cascaded pairwise sums),
  edge pixels repeated at the borders, summed in uint32 (wraps around), then
  blur = (sum + 2**(scalebits-1)) >> scalebits with scalebits = 4*(size//2);
- amount: fixed = trunc(float32(amount) * 65536); zero copies the plane;
- out = clip(x + (((x - blur) * fixed) >> 16), 0, peak), the shift flooring (arithmetic).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from filteropt.errors import FilteroptError
from filteropt.export.ffmpeg_filters import (
    UNSHARP_AMOUNT_RANGE,
    check_unsharp_size,
    unsharp_fixed_amount,
    unsharp_quantize_amount,
    unsharp_to_ffmpeg,
)
from filteropt.prefilters.linear import to_codes


def binomial_taps(size: int) -> list[int]:
    """Integer taps of ffmpeg's unsharp blur along one axis (sum 2**(size - 1))."""
    order = 2 * (size // 2)
    return [math.comb(order, k) for k in range(order + 1)]


def replicate_indices(n: int, radius: int, device: torch.device | None = None) -> torch.Tensor:
    """Source indices of a line padded by `radius` repeating its edge pixels."""
    return torch.arange(-radius, n + radius, device=device).clamp(0, n - 1)


def _blur_sum(x: torch.Tensor, taps: torch.Tensor) -> torch.Tensor:
    """Separable sum with `taps` along both axes, edges replicated; keeps the dtype of x."""
    r = (len(taps) - 1) // 2
    h, w = x.shape[-2:]
    padded = x.index_select(-2, replicate_indices(h, r, x.device))
    padded = padded.index_select(-1, replicate_indices(w, r, x.device))
    rows = sum(t * padded[..., :, i:i + w] for i, t in enumerate(taps.tolist()))
    return sum(t * rows[..., i:i + h, :] for i, t in enumerate(taps.tolist()))


def ffmpeg_unsharp(x: torch.Tensor, size: int, amount: float, bit_depth: int = 8) -> torch.Tensor:
    """Exactly ffmpeg's `unsharp` luma output for frames x [N,1,H,W] (float32 code values).

    Emulates the 32-bit wrap-around of ffmpeg's sums too (13x13 at 10-bit gives its garbage).
    """
    check_unsharp_size(size)
    codes = to_codes(x, bit_depth)
    fixed = unsharp_fixed_amount(amount)
    if fixed == 0:
        return codes.to(torch.float32)
    scalebits = 4 * (size // 2)
    taps = torch.tensor(binomial_taps(size), dtype=torch.int64)
    wrap = 1 << 32
    total = _blur_sum(codes, taps) % wrap  # ffmpeg's uint32 accumulators
    blur = ((total + (1 << (scalebits - 1))) % wrap) >> scalebits
    out = codes + (((codes - blur) * fixed) >> 16)
    return out.clamp(0, (1 << bit_depth) - 1).to(torch.float32)


def unsharp_blur(x: torch.Tensor, size: int) -> torch.Tensor:
    """The smooth (unrounded) binomial blur of ffmpeg's unsharp, differentiable."""
    taps = torch.tensor(binomial_taps(size), dtype=x.dtype, device=x.device)
    taps = taps / taps.sum()
    r = size // 2
    h, w = x.shape[-2:]
    padded = x.index_select(-2, replicate_indices(h, r, x.device))
    padded = padded.index_select(-1, replicate_indices(w, r, x.device))
    padded = F.conv2d(padded, taps.view(1, 1, 1, -1))
    return F.conv2d(padded, taps.view(1, 1, -1, 1))


class UnsharpPrefilter(nn.Module):
    """ffmpeg `unsharp` on luma, size x size, with a learnable `amount` (alpha) in [-2, 5].

    `forward` is the float version x + a * (x - blur(x)) (no rounding, no clipping); `deploy`
    reproduces ffmpeg's fixed-point output exactly. The amount is rounded to 1/65536 on export.
    """

    def __init__(self, size: int = 5, amount: float = 1.0) -> None:
        super().__init__()
        check_unsharp_size(size)
        lo, hi = UNSHARP_AMOUNT_RANGE
        if not lo <= amount <= hi:
            raise FilteroptError(f"unsharp amount {amount} is outside ffmpeg's range [{lo}, {hi}]")
        self.size = size
        self.amount = nn.Parameter(torch.tensor(float(amount)))

    def deployed_amount(self) -> float:
        """The amount the exported filter carries (in range, on the 1/65536 grid)."""
        lo, hi = UNSHARP_AMOUNT_RANGE
        return unsharp_quantize_amount(min(max(float(self.amount.detach()), lo), hi))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Float result for code-value frames x [N,1,H,W]; differentiable in x and the amount."""
        amount = self.amount.to(dtype=x.dtype, device=x.device).clamp(*UNSHARP_AMOUNT_RANGE)
        return x + amount * (x - unsharp_blur(x, self.size))

    def ffmpeg_filter(self, bit_depth: int | None = None) -> str:
        """The -vf string (refuses sizes that overflow inside ffmpeg at `bit_depth`, if given)."""
        return unsharp_to_ffmpeg(self.size, self.deployed_amount(), bit_depth)

    @torch.no_grad()
    def deploy(self, x: torch.Tensor, bit_depth: int = 8) -> torch.Tensor:
        """The integer frame ffmpeg produces with `ffmpeg_filter()` (float32 code values)."""
        return ffmpeg_unsharp(x, self.size, self.deployed_amount(), bit_depth)
