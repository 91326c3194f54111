"""Turn trained prefilters into ffmpeg filter strings (`convolution`, `unsharp`) that reproduce them.

ffmpeg's `convolution` filter (read from libavfilter/vf_convolution.c, checked against the binary):
per pixel it sums integer taps times pixels in an `int` (borders mirrored without repeating the
edge pixel), then computes `(int)(sum * rdiv + bias + 0.5f)` in float32 and clips to [0, peak].
Matrix entries are parsed with `%d` (no range limit besides int overflow), `rdiv` and `bias` are
float32 options with range [0, INT_MAX] (no negative bias). Square matrices are 3x3, 5x5 or 7x7;
`0mode=row` / `0mode=column` take 1-D kernels of odd length up to 49. A plane whose matrix is the
identity with rdiv 1 and bias 0 is copied untouched.

Export here uses integer taps at a power-of-two scale S (rdiv = 1/S exactly, bias = 0), S as large
as the int sum allows for 10-bit input without overflow. Scaling by 1/S is then exact; the only
float32 roundings left (int to float for |sum| > 2**24, and the +0.5) are deterministic IEEE steps
that `filteropt.prefilters.linear.ffmpeg_convolution` reproduces bit for bit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from filteropt.errors import FilteroptError

# the largest pixel value the exported filters must handle exactly (10-bit video)
MAX_PEAK = 1023
# ffmpeg sums taps * pixels in a C int
INT32_MAX = (1 << 31) - 1
SQUARE_SIZES = (3, 5, 7)
IDENTITY_3X3 = "0 0 0 0 1 0 0 0 0"

UNSHARP_SIZES = (3, 5, 7, 9, 11, 13)
UNSHARP_AMOUNT_RANGE = (-2.0, 5.0)
# ffmpeg's unsharp rejects (size_x//2 + size_y//2) * 2 > 25, i.e. square sizes above 13
UNSHARP_MAX_SCALEBITS = 25


@dataclass(frozen=True)
class ConvolutionPass:
    """One ffmpeg `convolution` filter on the luma plane."""

    mode: str  # "square", "row" or "column"
    taps: np.ndarray  # int64: k x k for square, length L for row/column
    rdiv: float
    bias: float = 0.0

    @property
    def filter(self) -> str:
        """The `convolution=...` string; chroma planes keep the identity matrix (copied as is)."""
        matrix = " ".join(str(int(t)) for t in self.taps.ravel())
        opts = [f"0m='{matrix}'", f"0rdiv={_float_str(self.rdiv)}", f"0bias={_float_str(self.bias)}"]
        if self.mode != "square":
            opts.append(f"0mode={self.mode}")
        opts += [f"1m='{IDENTITY_3X3}'", f"2m='{IDENTITY_3X3}'"]
        return "convolution=" + ":".join(opts)


@dataclass(frozen=True)
class ConvolutionExport:
    """A linear kernel as ffmpeg filters: `filter` is the -vf string, `passes` what it runs."""

    filter: str
    passes: tuple[ConvolutionPass, ...]
    taps: np.ndarray  # effective dense integer kernel (outer product for the separable form)
    rdiv: float  # effective dense multiplier (product over passes)
    bias: float
    tap_error: float  # worst |K - taps * rdiv| over the taps
    pixel_error: float  # worst |ideal - exported| before the final rounding, in 8-bit codes
    separable: bool = False
    kernel: np.ndarray | None = field(repr=False, default=None)  # the float K_alpha exported


def _float_str(value: float) -> str:
    """A decimal that parses back to exactly `value` (exact for powers of two)."""
    if value == int(value):
        return str(int(value))
    return repr(float(value))


def _as_kernel(kernel: np.ndarray | torch.Tensor) -> np.ndarray:
    """A float64 numpy copy of a 2-D odd square kernel."""
    if isinstance(kernel, torch.Tensor):
        kernel = kernel.detach().cpu().double().numpy()
    k = np.array(kernel, dtype=np.float64)
    if k.ndim != 2 or k.shape[0] != k.shape[1] or k.shape[0] % 2 == 0:
        raise FilteroptError(f"kernel must be a square odd-sized 2-D array, got shape {k.shape}")
    if not np.all(np.isfinite(k)):
        raise FilteroptError("kernel has non-finite taps")
    return k


def blend_identity(kernel: np.ndarray, alpha: float) -> np.ndarray:
    """K_alpha = (1 - alpha) * I + alpha * K (the strength folded into the kernel)."""
    out = alpha * kernel
    c = kernel.shape[0] // 2
    out[c, c] += 1.0 - alpha
    return out


def quantize_taps(kernel: np.ndarray, peak: int = MAX_PEAK) -> tuple[np.ndarray, int]:
    """Integer taps and shift b (scale S = 2**b) with sum(taps) = round(sum(K) * S).

    S is the largest power of two (up to 2**30) with peak * sum|taps| <= INT32_MAX, so ffmpeg's int
    sum cannot overflow. Common factors of two are then removed (same output, shorter string).
    """
    target_sum = kernel.sum()
    for bits in range(30, -1, -1):
        scale = 1 << bits
        taps = _round_with_sum(kernel * scale, int(round(target_sum * scale)))
        if peak * np.abs(taps).sum() <= INT32_MAX:
            break
    else:
        raise FilteroptError("kernel taps are too large to export exactly")
    while bits > 0 and np.all(taps % 2 == 0):
        taps //= 2
        bits -= 1
    return taps, bits


def _round_with_sum(values: np.ndarray, total: int) -> np.ndarray:
    """Round to integers, then move the taps closest to a rounding boundary so they sum to `total`."""
    taps = np.round(values).astype(np.int64)
    flat, resid = taps.reshape(-1), (values - taps).reshape(-1)
    missing = total - int(flat.sum())
    if missing:
        step = 1 if missing > 0 else -1
        order = np.argsort(-resid * step, kind="stable")  # largest residual in the needed direction
        for i in order[: abs(missing)]:
            flat[i] += step
    return flat.reshape(values.shape)


def _trim_square(taps: np.ndarray) -> np.ndarray:
    """Drop all-zero outer rings down to the smallest ffmpeg size (3, 5 or 7) holding the taps."""
    k = taps.shape[0]
    if k > 7:
        inner = taps[(k - 7) // 2:(k + 7) // 2, (k - 7) // 2:(k + 7) // 2]
        if np.abs(taps).sum() != np.abs(inner).sum():
            raise FilteroptError(f"a {k}x{k} kernel cannot be exported: ffmpeg convolution takes at most 7x7")
        taps, k = inner, 7
    if k == 1:
        taps = np.pad(taps, 1)
        k = 3
    while k > 3 and not (taps[0].any() or taps[-1].any() or taps[:, 0].any() or taps[:, -1].any()):
        taps, k = taps[1:-1, 1:-1], k - 2
    return taps


def _trim_line(taps: np.ndarray) -> np.ndarray:
    """Drop zero taps at both ends of an odd 1-D kernel, keeping at least 3."""
    while len(taps) > 3 and taps[0] == 0 and taps[-1] == 0:
        taps = taps[1:-1]
    return taps


def _worst_pixel_error(error: np.ndarray, taps: np.ndarray, rdiv: float, peak: int = 255) -> float:
    """Largest |ideal - exported| before the final rounding over inputs x in [0, peak].

    The tap error term is max |sum(error * x)|; the float32 term bounds ffmpeg's int-to-float
    rounding of sums above 2**24 and the rounding of the +0.5.
    """
    taps_term = peak * max(error[error > 0].sum(), -error[error < 0].sum(), 0.0)
    largest_sum = peak * float(np.abs(taps).sum())
    float_term = (2.0 ** (math.floor(math.log2(largest_sum)) - 24) * rdiv if largest_sum >= 1 else 0.0)
    return float(taps_term + float_term + 2.0 ** (math.floor(math.log2(peak)) - 23))


def _separable_factors(kernel: np.ndarray, tol: float) -> tuple[np.ndarray, np.ndarray] | None:
    """(column, row) 1-D kernels with outer(column, row) = kernel, or None if it is not rank 1."""
    u, s, vt = np.linalg.svd(kernel)
    col, row = u[:, 0] * s[0], vt[0]
    if np.abs(np.outer(col, row) - kernel).max() > tol * max(np.abs(kernel).max(), 1e-12):
        return None
    # put the gain in the column pass; the row pass keeps unit sum when it can (no range change)
    norm = row.sum() if abs(row.sum()) > 1e-6 else row[np.argmax(np.abs(row))]
    return col * norm, row / norm


def linear_to_ffmpeg(kernel: np.ndarray | torch.Tensor, alpha: float = 1.0, *,
                     separable: bool = False, separable_tol: float = 1e-6) -> ConvolutionExport:
    """Export the luma kernel K_alpha = (1 - alpha) I + alpha K as an ffmpeg `convolution` chain.

    Dense by default (one rounding: output = clip(floor(sum(taps * x) / S + 0.5)) in float32). With
    `separable=True` a rank-1 kernel becomes a row pass then a column pass; ffmpeg rounds and clips
    the intermediate frame, so that form is faster but not identical to the dense one.
    """
    k_alpha = blend_identity(_as_kernel(kernel), float(alpha))
    if separable:
        factors = _separable_factors(k_alpha, separable_tol)
        if factors is None:
            raise FilteroptError("kernel is not separable (rank 1); export it dense")
        return _separable_export(k_alpha, *factors)
    taps, bits = quantize_taps(k_alpha)
    rdiv = 2.0 ** -bits
    error = k_alpha - taps * rdiv
    trimmed = _trim_square(taps)  # the identity ends as 3x3 with rdiv 1: ffmpeg copies the plane
    step = ConvolutionPass("square", trimmed, rdiv, 0.0)
    return ConvolutionExport(
        filter=step.filter, passes=(step,), taps=trimmed, rdiv=rdiv, bias=0.0,
        tap_error=float(np.abs(error).max()), pixel_error=_worst_pixel_error(error, taps, rdiv),
        separable=False, kernel=k_alpha,
    )


def _separable_export(k_alpha: np.ndarray, col: np.ndarray, row: np.ndarray) -> ConvolutionExport:
    """Row pass then column pass for a rank-1 kernel."""
    row_taps, row_bits = quantize_taps(row[None, :])
    col_taps, col_bits = quantize_taps(col[None, :])
    row_taps, col_taps = _trim_line(row_taps[0]), _trim_line(col_taps[0])
    passes = (ConvolutionPass("row", row_taps, 2.0 ** -row_bits),
              ConvolutionPass("column", col_taps, 2.0 ** -col_bits))
    dense = np.zeros_like(k_alpha)
    outer = np.outer(col_taps, row_taps).astype(np.float64) * passes[0].rdiv * passes[1].rdiv
    k, h, w = k_alpha.shape[0], outer.shape[0], outer.shape[1]
    if h > k or w > k:
        raise FilteroptError("separable factors are longer than the kernel")
    dense[(k - h) // 2:(k + h) // 2, (k - w) // 2:(k + w) // 2] = outer
    error = k_alpha - dense
    # the intermediate frame is rounded to integers: up to 1/2 code times the column gain
    rounding = 0.5 * np.abs(col_taps).sum() * passes[1].rdiv
    worst = _worst_pixel_error(error, np.outer(col_taps, row_taps), passes[0].rdiv * passes[1].rdiv)
    return ConvolutionExport(
        filter=",".join(p.filter for p in passes), passes=passes,
        taps=np.outer(col_taps, row_taps), rdiv=passes[0].rdiv * passes[1].rdiv, bias=0.0,
        tap_error=float(np.abs(error).max()), pixel_error=worst + rounding,
        separable=True, kernel=k_alpha,
    )


def unsharp_fixed_amount(amount: float) -> int:
    """The 16.16 fixed-point amount ffmpeg's unsharp uses for an `amount` option value.

    ffmpeg stores the option as float32 and truncates float32(amount) * 65536 toward zero.
    """
    return math.trunc(float(np.float32(amount)) * 65536.0)


def unsharp_quantize_amount(amount: float) -> float:
    """`amount` rounded to the nearest 1/65536 (exactly representable, exactly exported)."""
    return round(float(amount) * 65536.0) / 65536.0


def check_unsharp_size(size: int) -> None:
    """Raise FilteroptError unless `size` is a square luma size ffmpeg's unsharp accepts."""
    if size not in UNSHARP_SIZES:
        raise FilteroptError(
            f"unsharp size {size} is not supported: ffmpeg takes odd sizes 3..23 but rejects square "
            f"sizes whose (size//2)*4 exceeds {UNSHARP_MAX_SCALEBITS} bits; use one of {UNSHARP_SIZES}"
        )


def unsharp_overflows(size: int, bit_depth: int) -> bool:
    """True where ffmpeg's 32-bit blur sums wrap around (13x13 at 10-bit): its output is garbage."""
    scalebits = 4 * (size // 2)
    return ((1 << bit_depth) - 1) * (1 << scalebits) + (1 << (scalebits - 1)) >= 1 << 32


def unsharp_to_ffmpeg(size: int, amount: float, bit_depth: int | None = None) -> str:
    """`unsharp=...` on luma only (size x size, amount rounded to 1/65536; chroma amount 0).

    With `bit_depth`, refuse sizes whose sums overflow inside ffmpeg at that depth.
    """
    check_unsharp_size(size)
    lo, hi = UNSHARP_AMOUNT_RANGE
    amount = unsharp_quantize_amount(amount)
    if not lo <= amount <= hi:
        raise FilteroptError(f"unsharp amount {amount} is outside ffmpeg's range [{lo}, {hi}]")
    if bit_depth is not None and unsharp_overflows(size, bit_depth):
        raise FilteroptError(
            f"ffmpeg's unsharp overflows its 32-bit sums for {size}x{size} at {bit_depth}-bit; "
            "use size 11 or less"
        )
    return (f"unsharp=luma_msize_x={size}:luma_msize_y={size}:luma_amount={_float_str(amount)}"
            ":chroma_amount=0")
