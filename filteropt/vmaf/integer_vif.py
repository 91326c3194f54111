"""libvmaf's integer (fixed-point) VIF feature, bit-exact: vif_scale0..3 as its default path logs them.

Pixels stay integer code values; filters are 16-bit fixed-point taps summing to 65536, every
accumulation is an int64 tensor op with the same rounding offsets, shifts and unsigned wraps as the
reference, logarithms come from a 2048-scaled log2 lookup table, and only the gain `g` (and the final
num/den ratios) use floating point, as libvmaf does. Forward only: call under `torch.no_grad`.
"""

from __future__ import annotations

import torch

# Fixed-point 1D Gaussian taps per scale (widths 17, 9, 5, 3); each sums to 65536.
VIF_INT_TAPS = (
    (489, 935, 1640, 2640, 3896, 5274, 6547, 7455, 7784, 7455, 6547, 5274, 3896, 2640, 1640, 935, 489),
    (1244, 3663, 7925, 12590, 14692, 12590, 7925, 3663, 1244),
    (3571, 16004, 26386, 16004, 3571),
    (10904, 43728, 10904),
)

SIGMA_NSQ = 2 * 65536  # noise variance 2.0 in the 16.16 fixed-point domain
LOG_ONE = 2048  # log2 values are scaled by 2048
U32 = 0xFFFFFFFF
U16 = 0xFFFF

_log2_tables: dict[torch.device, torch.Tensor] = {}


def log2_table(device: torch.device) -> torch.Tensor:
    """round(2048 * log2f(i)) for i in 32767..65535 (zeros below), int64 on `device`.

    log2 is taken in float64 and rounded to float32 (a correctly rounded log2f), then scaled and
    rounded half away from zero.
    """
    if device not in _log2_tables:
        i = torch.arange(65536, dtype=torch.float64)
        log2f = torch.log2(i.clamp(min=1.0)).to(torch.float32).to(torch.float64)
        table = torch.floor(log2f * LOG_ONE + 0.5).to(torch.int64)
        table[:32767] = 0
        _log2_tables[device] = table.to(device)
    return _log2_tables[device]


def bit_length(v: torch.Tensor) -> torch.Tensor:
    """Number of significant bits of positive int64 values below 2**53 (exact via frexp)."""
    return torch.frexp(v.to(torch.float64)).exponent.to(torch.int64)


def log2_fixed(v: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """2048*log2(v) via the table on v's top 16 bits, for int64 v >= 2**17 (libvmaf's log2_32/log2_64)."""
    k = bit_length(v) - 16
    return table[v >> k] + LOG_ONE * k


def code_values(x: torch.Tensor) -> torch.Tensor:
    """Integer code values as int64 (floating input is rounded)."""
    return (x.round() if x.is_floating_point() else x).to(torch.int64)


def mirror_index(n: int, pad: int, device: torch.device) -> torch.Tensor:
    """Indices -pad..n-1+pad mirrored about 0 and n-1 without repeating the edge sample."""
    idx = torch.arange(-pad, n + pad, device=device).abs()
    return torch.where(idx >= n, 2 * (n - 1) - idx, idx)


def filter_axis(x: torch.Tensor, taps: tuple[int, ...], dim: int) -> torch.Tensor:
    """Exact integer correlation of int64 `x` with symmetric `taps` along `dim`, mirrored borders."""
    r = len(taps) // 2
    n = x.shape[dim]
    xp = x.index_select(dim, mirror_index(n, r, x.device))
    acc = xp.narrow(dim, r, n) * taps[r]
    pair = torch.empty_like(acc)
    for k in range(r):  # taps are symmetric: add mirrored pairs first; in place to spare memory traffic
        torch.add(xp.narrow(dim, k, n), xp.narrow(dim, 2 * r - k, n), out=pair)
        acc.add_(pair, alpha=taps[k])
    return acc


def mul_round_shift32(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(a*b + 2**31) >> 32 for uint32 values a, b without overflowing int64."""
    ah, al = a >> 16, a & U16
    bh, bl = b >> 16, b & U16
    return ah * bh + ((((ah * bl + al * bh) << 16) + al * bl + (1 << 31)) >> 32)


def to_int32(v: torch.Tensor) -> torch.Tensor:
    """Reinterpret the low 32 bits of int64 values as signed int32."""
    return ((v + (1 << 31)) & U32) - (1 << 31)


def vif_scale_num_den(ref: torch.Tensor, dis: torch.Tensor, scale: int, bit_depth: int,
                      gain_limit: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-frame (num, den) as float32 of one scale; ref/dis int64 [N,H,W] at that scale."""
    taps = VIF_INT_TAPS[scale]
    # vertical pass: means and second moments, with the scale's rounding shifts
    mu1 = filter_axis(ref, taps, 1)
    mu2 = filter_axis(dis, taps, 1)
    rr = filter_axis(ref * ref, taps, 1)
    dd = filter_axis(dis * dis, taps, 1)
    rd = filter_axis(ref * dis, taps, 1)
    if scale == 0 and bit_depth == 8:
        mu1, mu2 = (mu1 + 128) >> 8, (mu2 + 128) >> 8
    else:
        shift = bit_depth if scale == 0 else 16
        sq_shift = 2 * (bit_depth - 8) if scale == 0 else 16
        mu_round, sq_round = 1 << (shift - 1), (1 << (sq_shift - 1)) if sq_shift else 0
        mu1 = (((mu1 & U32) + mu_round) & U32) >> shift & U16
        mu2 = (((mu2 & U32) + mu_round) & U32) >> shift & U16
        rr, dd, rd = (((v + sq_round) >> sq_shift) & U32 for v in (rr, dd, rd))
    # horizontal pass
    mu1 = filter_axis(mu1, taps, 2) & U32
    mu2 = filter_axis(mu2, taps, 2) & U32
    xx = ((filter_axis(rr, taps, 2) + 32768) >> 16) & U32
    yy = ((filter_axis(dd, taps, 2) + 32768) >> 16) & U32
    xy = ((filter_axis(rd, taps, 2) + 32768) >> 16) & U32
    sigma1 = to_int32(xx - mul_round_shift32(mu1, mu1))
    sigma2 = to_int32(yy - mul_round_shift32(mu2, mu2)).clamp(min=0)
    sigma12 = to_int32(xy - mul_round_shift32(mu1, mu2))
    del mu1, mu2, xx, yy, xy, rr, dd, rd

    table = log2_table(ref.device)
    is_log = sigma1 >= SIGMA_NSQ
    den_log = torch.where(is_log, log2_fixed(torch.where(is_log, sigma1 + SIGMA_NSQ, SIGMA_NSQ), table)
                          - 17 * LOG_ONE, 0)
    has_num = is_log & (sigma12 > 0) & (sigma2 > 0)
    s1, s2, s12 = sigma1.to(torch.float64), sigma2.to(torch.float64), sigma12.to(torch.float64)
    g = s12 / (s1 + 65536 * 1.0e-10)
    sv_sq = torch.trunc(s2 - g * s12).to(torch.int64).clamp(min=0)
    g = g.clamp(max=gain_limit)
    numer1 = sv_sq + SIGMA_NSQ
    numer1_tmp = torch.trunc(g * g * s1).to(torch.int64) + numer1
    numer1_tmp = torch.where(has_num, numer1_tmp, SIGMA_NSQ)
    numer1 = torch.where(has_num, numer1, SIGMA_NSQ)
    num_log = log2_fixed(numer1_tmp, table) - log2_fixed(numer1, table)

    num_log_sum = num_log.sum(dim=(1, 2)).to(torch.float64)
    den_log_sum = den_log.sum(dim=(1, 2)).to(torch.float64)
    not_log = ~is_log
    num_non_log = torch.where(not_log, sigma2, 0).sum(dim=(1, 2)).to(torch.float64)
    den_non_log = not_log.sum(dim=(1, 2)).to(torch.float64)
    num = num_log_sum / 2048.0 + (den_non_log - (num_non_log / 16384.0) / 65025.0)
    den = den_log_sum / 2048.0 + den_non_log
    return num.to(torch.float32), den.to(torch.float32)


def vif_downsample(ref: torch.Tensor, dis: torch.Tensor, scale: int,
                   bit_depth: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Blur scale `scale` images with the next scale's taps (fixed point) and keep even rows/columns."""
    taps = VIF_INT_TAPS[scale + 1]
    out = []
    for x in (ref, dis):
        v = filter_axis(x, taps, 1)
        if scale == 0 and bit_depth == 8:
            v = (v + 128) >> 8
        else:
            shift = bit_depth if scale == 0 else 16
            v = ((((v & U32) + (1 << (shift - 1))) & U32) >> shift) & U16
        h, w = x.shape[1] // 2, x.shape[2] // 2
        v = v[:, 0:2 * h:2]  # only even rows are kept: filter just those horizontally
        v = (((filter_axis(v, taps, 2) & U32) + 32768) & U32) >> 16 & U16
        out.append(v[:, :, 0:2 * w:2].contiguous())
    return out[0], out[1]


def integer_vif_num_den(ref: torch.Tensor, dis: torch.Tensor, bit_depth: int = 8,
                        enhn_gain_limit: float = 100.0) -> dict[str, torch.Tensor]:
    """Per-scale float32 numerators and denominators {'num_scale0', 'den_scale0', ...}: [N] each.

    `ref`/`dis`: [N,1,H,W] code values of `bit_depth` bits (0..1023 for 10-bit, not divided by 4);
    `enhn_gain_limit` is libvmaf's vif_enhn_gain_limit (1.0 for the NEG model).
    """
    n, _, height, width = ref.shape
    out: dict[str, list[torch.Tensor]] = {f"{part}_scale{s}": [] for s in range(4) for part in ("num", "den")}
    chunk = max(1, (1 << 21) // (height * width))
    with torch.no_grad():
        for start in range(0, n, chunk):
            r = code_values(ref[start:start + chunk, 0])
            d = code_values(dis[start:start + chunk, 0])
            for scale in range(4):
                if scale > 0:
                    r, d = vif_downsample(r, d, scale - 1, bit_depth)
                num, den = vif_scale_num_den(r, d, scale, bit_depth, enhn_gain_limit)
                out[f"num_scale{scale}"].append(num)
                out[f"den_scale{scale}"].append(den)
    return {k: torch.cat(v) for k, v in out.items()}


def integer_vif_features(ref: torch.Tensor, dis: torch.Tensor, bit_depth: int = 8,
                         enhn_gain_limit: float = 100.0) -> dict[str, torch.Tensor]:
    """libvmaf integer VIF {'vif_scale0'..'vif_scale3': [N] float64} of [N,1,H,W] integer code values.

    Each score is the float32 ratio num/den of its scale, as libvmaf computes it.
    """
    parts = integer_vif_num_den(ref, dis, bit_depth, enhn_gain_limit)
    return {f"vif_scale{s}": (parts[f"num_scale{s}"] / parts[f"den_scale{s}"]).to(torch.float64)
            for s in range(4)}
