"""libvmaf's fixed-point ADM feature (`integer_adm`, used by vmaf_v0.6.1): adm2, adm_scale0..3.

Forward only, bit-exact with libvmaf: integer DWT with its shifts and rounding constants, the
reciprocal-table decoupling, the fixed-point CSF and masking, per-row rounded cube sums in int64,
and float32/float64 exactly where libvmaf uses floating point (angle test, final pooling).
Scale 0 works on int16-range subbands, scales 1..3 on int32-range subbands, each with their own
fixed-point formats; the narrowing casts that can wrap on legal input are mirrored.

The reference is libvmaf as ffmpeg runs it on an AVX-512 CPU: two places where its vector code
differs from its scalar code are reproduced (`_vector_edge_quirk`, `_vector_cm_mask`); elsewhere
the vector and scalar paths agree. The final cube roots call the C library's powf, as libvmaf does.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import math

import torch

from filteropt.vmaf.adm import (
    CUBE_ROOT_EXP,
    DEFAULT_ENHN_GAIN_LIMIT,
    MIN_SIZE,
    NOISE_WEIGHT,
    NORM_VIEW_DIST,
    NUM_SCALES,
    REF_DISPLAY_HEIGHT,
    _WATSON_AMPLITUDES,
    _WATSON_Y,
    _f32,
    crop_with_halo,
    pooling_region,
)

# db2 analysis filters in Q15 and the low-pass DC gain used to remove the pixel offset
DB2_LO_Q15 = (15826, 27411, 7345, -4240)
DB2_HI_Q15 = (-4240, -7345, 27411, -15826)
DB2_LO_SUM_Q15 = 46342
# scales 1..3: (vertical add, vertical shift, horizontal add, horizontal shift)
DWT_S123_ROUNDING = ((0, 0, 16384, 15), (32768, 16, 32768, 16), (32768, 16, 16384, 15))
RECIP_Q30 = 1 << 30
COS_1DEG_SQ = _f32(math.cos(math.pi / 180.0) ** 2)
# scale 0 CSF: 1/Q in Q21 (h, v) and Q23 (d) for the default viewing distance and display height
CSF_S0_FACTOR = (36453, 36453, 49417)
CSF_S0_ROUND = (16384, 16384, 65535)
CSF_S0_SHIFT = (15, 15, 17)
ONE_BY_30_S0 = 4369  # 32/30 in Q12
ONE_BY_15_S0 = 8738  # 32/15 in Q12
ONE_BY_30_S123 = 143165577  # 1/30 in Q32
ONE_BY_15_S123 = 286331153  # 1/15 in Q32
# libvmaf stores 1 << 31 in an int32 as the rounding term of the Q32 masking filters: it wraps to -2^31
ROUND_Q32_WRAPPED = -(1 << 31)
DEN_S123_SQ_SHIFT = (31, 30, 31)
DEN_S123_FLOAT_SHIFT = (32, 27, 23)
NUM_S123_FLOAT_SHIFT = (45, 39, 36)

_recip_tables: dict[torch.device, torch.Tensor] = {}


def _wrap(x: torch.Tensor, bits: int) -> torch.Tensor:
    """Two's-complement wrap of int64 values to a signed `bits`-bit integer (C narrowing cast)."""
    half = 1 << (bits - 1)
    return ((x + half) & ((1 << bits) - 1)) - half


def _recip_table(device: torch.device) -> torch.Tensor:
    """Q30 reciprocals indexed by d + 32768 for d in -32768..32768 (entry for d = 0 unused)."""
    table = _recip_tables.get(device)
    if table is None:
        d = torch.arange(1, 32769, dtype=torch.int64)
        recip = torch.div(RECIP_Q30, d, rounding_mode="floor")
        table = torch.zeros(65537, dtype=torch.int64)
        table[32768 + d] = recip
        table[32768 - d] = -recip
        table = _recip_tables.setdefault(device, table.to(device))
    return table


def _ceil_log2(n: float) -> int:
    return math.ceil(math.log2(n))


def _round_half(shift: int) -> int:
    """libvmaf's rounding term 2^(shift-1), 0 for a zero shift."""
    return 1 << (shift - 1) if shift > 0 else 0


def _load_powf():
    """The C library's powf: libvmaf pools with powf, which is not always correctly rounded."""
    try:
        libm = ctypes.CDLL(ctypes.util.find_library("m") or "libm.so.6")
        powf = libm.powf
    except (OSError, AttributeError, TypeError):
        return None
    powf.restype = ctypes.c_float
    powf.argtypes = (ctypes.c_float, ctypes.c_float)
    return powf


_POWF = _load_powf()


def _cube_root_scalar(x: float) -> float:
    """powf(x, 1.0f/3) of a float32 value."""
    if _POWF is not None:
        return _POWF(x, CUBE_ROOT_EXP)
    return _f32(x ** CUBE_ROOT_EXP)  # correctly rounded; glibc's powf differs in rare near-ties


def _cube_root_f32(x: torch.Tensor) -> torch.Tensor:
    """powf(x, 1.0f/3) elementwise on a small float32 tensor (a few values per frame)."""
    values = [_cube_root_scalar(v) for v in x.tolist()]
    return torch.tensor(values, dtype=torch.float32, device=x.device)


def _noise_floor_f32(area: int, device: torch.device) -> torch.Tensor:
    return torch.tensor(_cube_root_scalar(_f32(area * NOISE_WEIGHT)), dtype=torch.float32, device=device)


# ---------------------------------------------------------------------------- DWT


def _mirror_pad(x: torch.Tensor, dim: int) -> torch.Tensor:
    """x padded along dim for the db2 taps: index -1 -> 1 in front, n -> n-1 and n+1 -> n-2 behind.

    Padded index p = 2i + k then holds the input of tap k of output i.
    """
    n = x.shape[dim]
    parts = [x.narrow(dim, 1, 1), x, x.narrow(dim, n - 1, 1)]
    if n % 2:  # the last output also reads index n + 1
        parts.append(x.narrow(dim, n - 2, 1))
    return torch.cat(parts, dim)


def _taps(padded: torch.Tensor, dim: int, m: int) -> list[torch.Tensor]:
    """Strided views of the 4 tap inputs of m outputs from a `_mirror_pad`-ded tensor."""
    return [padded.narrow(dim, k, 2 * m - 1)[(slice(None),) * (dim % padded.dim()) + (slice(None, None, 2),)]
            for k in range(4)]


def _filter(taps: list[torch.Tensor], coeffs: tuple[int, ...], add: int, shift: int,
            out: torch.Tensor | None = None) -> torch.Tensor:
    """(sum_k coeffs[k] * taps[k] + add) >> shift, accumulated in place."""
    out = torch.mul(taps[0], coeffs[0], out=out)
    for x, c in zip(taps[1:], coeffs[1:]):
        out.add_(x, alpha=c)
    if add:
        out.add_(add)
    return out.bitwise_right_shift_(shift)


def _dwt(x: torch.Tensor, scale: int, bit_depth: int) -> tuple[torch.Tensor, torch.Tensor]:
    """One integer DWT level of x [B,H,W] (int64): returns (a [B,h,w], hvd [B,3,h,w]).

    Scale 0 takes pixel code values (offset removed via the low-pass DC gain), scales 1..3 the
    previous low-pass band, each with libvmaf's rounding shifts.
    """
    b, n_rows, n_cols = x.shape
    h2, w2 = (n_rows + 1) // 2, (n_cols + 1) // 2
    row_taps = _taps(_mirror_pad(x, 1), 1, h2)
    if scale == 0:
        half = 1 << (bit_depth - 1)
        lo = _filter(row_taps, DB2_LO_Q15, half - DB2_LO_SUM_Q15 * half, bit_depth)
        hi = _filter(row_taps, DB2_HI_Q15, half, bit_depth)
        add_h, shift_h = 32768, 16
    else:
        add_v, shift_v, add_h, shift_h = DWT_S123_ROUNDING[scale - 1]
        lo = _filter(row_taps, DB2_LO_Q15, add_v, shift_v)
        hi = _filter(row_taps, DB2_HI_Q15, add_v, shift_v)
    del row_taps
    lo_taps = _taps(_mirror_pad(lo, 2), 2, w2)
    hi_taps = _taps(_mirror_pad(hi, 2), 2, w2)
    a = _filter(lo_taps, DB2_LO_Q15, add_h, shift_h)
    hvd = x.new_empty(b, 3, h2, w2)
    _filter(hi_taps, DB2_LO_Q15, add_h, shift_h, out=hvd[:, 0])
    _filter(lo_taps, DB2_HI_Q15, add_h, shift_h, out=hvd[:, 1])
    _filter(hi_taps, DB2_HI_Q15, add_h, shift_h, out=hvd[:, 2])
    if scale == 0:
        _vector_edge_quirk(a, hvd[:, 1], lo, hi, bit_depth)
    return a, hvd


def _vector_edge_quirk(a: torch.Tensor, v: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor, bit_depth: int) -> None:
    """Reproduce libvmaf's AVX-512 scale-0 DWT at the right edge (the build ffmpeg ships uses it).

    Its horizontal pass computes blocks of 32 outputs from contiguous reads of the vertical
    low-pass row, which sits right before the high-pass row in one buffer. When the last block ends
    exactly on the last output (ceil(W/2) - 1 a multiple of 32 for 8-bit input, 64 for deeper
    input), that output reads the first high-pass values instead of the mirrored low-pass ones.
    Only the a and v bands' last column change; a feeds the next scales.
    """
    width = lo.shape[-1]
    half = (width + 1) // 2
    block = 32 if bit_depth == 8 else 64
    if half <= 1 or (half - 1) % block:
        return
    row = torch.cat((lo[..., width - 3:], hi[..., :2]), -1)  # contiguous memory from column W-3
    start = 2 * (half - 1) - 1 - (width - 3)
    taps = [row[..., start + k] for k in range(4)]
    a[..., -1] = _filter(taps, DB2_LO_Q15, 32768, 16)
    v[..., -1] = _filter(taps, DB2_HI_Q15, 32768, 16)


# ------------------------------------------------------------------ decoupling


def _to_f32_as_f64(x: torch.Tensor) -> torch.Tensor:
    return x.to(torch.float32).to(torch.float64)


def _decouple(o: torch.Tensor, t: torch.Tensor, scale: int,
              enhn_gain_limit: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Restored r and additive a = t - r subbands [N,3,h,w] from ref o and dis t (fixed point)."""
    oh, ov, th, tv = o[:, 0], o[:, 1], t[:, 0], t[:, 1]
    # 1-degree angle test on (h, v), in float32-rounded values compared in double
    dot = _to_f32_as_f64(oh * th + ov * tv) / 4096.0
    o_mag = _to_f32_as_f64(oh * oh + ov * ov) / 4096.0
    t_mag = _to_f32_as_f64(th * th + tv * tv) / 4096.0
    flag = ((dot >= 0) & (dot * dot >= COS_1DEG_SQ * o_mag * t_mag)).unsqueeze(1)
    del dot, o_mag, t_mag
    recip = _recip_table(o.device)
    if scale == 0:
        k = (recip[o + 32768] * t + 16384) >> 15
    else:
        # divisor reduced to its best 15 bits, the shift restored after the multiplication
        mag = o.abs()
        big = mag >= 32768
        shift = torch.where(big, torch.frexp(mag.to(torch.float64)).exponent.to(torch.int64) - 15, 0)
        one = torch.ones_like(mag)
        reduced = torch.where(big, (mag + (one << (shift - 1).clamp_min(0))) >> shift, mag)
        k = recip[reduced + 32768] * t
        k = torch.where(o < 0, -k, k)
        k = (k + (one << (shift + 14))) >> (shift + 15)
    k = torch.where(o == 0, 32768, k).clamp(0, 32768)
    r = (k * o + 16384) >> 15
    gain_sign = torch.where(k > 0, torch.sign(o), 0)  # sign of the unrounded restored value
    boost = flag & (gain_sign != 0)
    if bool(boost.any()):
        boosted = r.to(torch.float64) * enhn_gain_limit
        t64 = t.to(torch.float64)
        limited = torch.where(gain_sign > 0, torch.minimum(boosted, t64), torch.maximum(boosted, t64))
        r = torch.where(boost, limited.trunc().to(torch.int64), r)
    return r, t - r


# ------------------------------------------------------------- CSF, masking


def _csf_factors(scale: int) -> tuple[float, float, float]:
    """libvmaf's Watson CSF weights 1/Q (h, v, d) as integer_adm computes them.

    Unlike the float extractor, the exponent k * temp * temp is evaluated in float32.
    """
    a, k, f0, g = (_f32(v) if not isinstance(v, tuple) else tuple(_f32(e) for e in v) for v in _WATSON_Y)
    r = _f32(NORM_VIEW_DIST * REF_DISPLAY_HEIGHT * math.pi / 180.0)

    def inv_q(theta: int) -> float:
        temp = _f32(math.log10(2.0 ** (scale + 1) * f0 * g[theta] / r))
        exponent = _f32(_f32(k * temp) * temp)
        q = _f32(2.0 * a * 10.0 ** exponent / _f32(_WATSON_AMPLITUDES[scale][theta]))
        return _f32(1.0 / q)

    hv, diag = inv_q(1), inv_q(2)
    return hv, hv, diag


def _csf(a: torch.Tensor, scale: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """CSF-weighted additive subbands, their 1/30 masking-filter values and centre 1/15 terms."""
    if scale == 0:
        shape = (1, 3, 1, 1)
        factor = torch.tensor(CSF_S0_FACTOR, device=a.device).view(shape)
        rounding = torch.tensor(CSF_S0_ROUND, device=a.device).view(shape)
        shift = torch.tensor(CSF_S0_SHIFT, device=a.device).view(shape)
        csf_a = _wrap((a * factor + rounding) >> shift, 16)
        mag = csf_a.abs()
        flt = _wrap((ONE_BY_30_S0 * mag + 2048) >> 12, 16)
        centre = (ONE_BY_15_S0 * mag + 2048) >> 12  # wrapped to int16 or not: see _threshold
    else:
        factor = torch.tensor(_csf_q32(scale), device=a.device).view(1, 3, 1, 1)
        csf_a = (a * factor + (1 << 27)) >> 28
        mag = csf_a.abs()
        flt = (ONE_BY_30_S123 * mag + ROUND_Q32_WRAPPED) >> 32
        centre = (ONE_BY_15_S123 * mag + ROUND_Q32_WRAPPED) >> 32
    return csf_a, flt, centre


def _csf_q32(scale: int) -> tuple[int, int, int]:
    return tuple(int(w * 4294967296.0) for w in _csf_factors(scale))


def _threshold(flt: torch.Tensor, centre: torch.Tensor, vector_mask: torch.Tensor | None = None) -> torch.Tensor:
    """Masking threshold [N,h,w] from the halo'd [N,3,h+2,w+2] filter values (centre tap replaced).

    vector_mask (scale 0): [h,w] True where libvmaf's AVX-512 loop computes the threshold; there
    the centre term keeps 32 bits, elsewhere its scalar code wraps it to int16.
    """
    s = flt.sum(1)
    rows = s[:, :-2] + s[:, 1:-1] + s[:, 2:]
    box = rows[..., :-2] + rows[..., 1:-1] + rows[..., 2:]
    centre = centre[..., 1:-1, 1:-1]
    centre_sum = centre.sum(1)
    if vector_mask is not None:
        centre_sum = torch.where(vector_mask, centre_sum, _wrap(centre, 16).sum(1))
    return box - s[:, 1:-1, 1:-1] + centre_sum


def _vector_cm_mask(h: int, w: int, region: tuple[int, int, int, int], device: torch.device) -> torch.Tensor:
    """Pooled positions [rh,rw] that libvmaf's AVX-512 scale-0 masking loop handles (blocks of 14)."""
    top, bottom, left, right = region
    mask = torch.zeros(bottom - top, right - left, dtype=torch.bool, device=device)
    if left > 0 and right <= w - 1:
        start_row, end_row = max(top, 1), min(bottom, h - 1)
        start_col, end_col = max(left, 1), min(right, w - 1)
        end_vec = end_col - (end_col - start_col) % 14
        mask[start_row - top:end_row - top, start_col - left:end_vec - left] = True
    return mask


def _row_pool(val: torch.Tensor, shift: int) -> torch.Tensor:
    """Sum each row [..., h, w] -> round-shift -> sum rows: [...] int64."""
    return ((val.sum(-1) + _round_half(shift)) >> shift).sum(-1)


def _numerator(r: torch.Tensor, threshold: torch.Tensor, scale: int, h: int, w: int, area: int) -> torch.Tensor:
    """Masked restored-signal cube pooling: float32 [N] (h + v + d)."""
    thr = threshold.unsqueeze(1)
    shift_rows = _ceil_log2(h)
    if scale == 0:
        factor = torch.tensor(CSF_S0_FACTOR, device=r.device).view(1, 3, 1, 1)
        x = r * factor
        sub = torch.cat((_wrap(thr << 10, 32).expand(-1, 2, -1, -1), _wrap(thr << 12, 32)), 1)
        x = (x.abs() - sub).clamp_min(0)
        sq_add = torch.tensor((1 << 28, 1 << 28, 1 << 29), device=r.device).view(1, 3, 1, 1)
        sq_shift = torch.tensor((29, 29, 30), device=r.device).view(1, 3, 1, 1)
        x_sq = _wrap((x * x + sq_add) >> sq_shift, 32)
        shifts = [math.ceil(math.log2(w) - 4)] * 2 + [math.ceil(math.log2(w) - 3)]
        val = x_sq * x
        accum = [_row_pool((val[:, i] + _round_half(s)) >> s, shift_rows) for i, s in enumerate(shifts)]
        pending = (52, 52, 57)
        f_accum = [(acc.to(torch.float64) / 2.0 ** (p - s - shift_rows)).to(torch.float32)
                   for acc, p, s in zip(accum, pending, shifts)]
    else:
        factor = torch.tensor(_csf_q32(scale), device=r.device).view(1, 3, 1, 1)
        x = (r * factor + (1 << 27)) >> 28
        x = (x.abs() - thr).clamp_min(0)
        x_sq = _wrap((x * x + (1 << 29)) >> 30, 32)
        shift_cub = _ceil_log2(w)
        val = (x_sq * x + _round_half(shift_cub)) >> shift_cub
        accum = _row_pool(val, shift_rows)
        divisor = torch.tensor(_f32(2.0 ** (NUM_S123_FLOAT_SHIFT[scale - 1] - shift_cub - shift_rows)),
                               dtype=torch.float32, device=r.device)
        f_accum = list((accum.to(torch.float32) / divisor).unbind(1))
    floor = _noise_floor_f32(area, r.device)
    parts = [_cube_root_f32(f) + floor for f in f_accum]
    return (parts[0] + parts[1]) + parts[2]


def _denominator(o: torch.Tensor, scale: int) -> torch.Tensor:
    """Reference cube pooling over the pooled region o [N,3,h,w]: float32 [N]."""
    rh, rw = o.shape[-2:]
    area = rh * rw
    mag = o.abs()
    if scale == 0:
        shift_rows = max(math.ceil(math.log2(area) - 20), 0)
        accum = _row_pool(mag * mag * mag, shift_rows)
        divisor = 2.0 ** (18 - shift_rows)
    else:
        sq_shift = DEN_S123_SQ_SHIFT[scale - 1]
        shift_cub = _ceil_log2(rw)
        shift_rows = _ceil_log2(rh)
        val = ((((mag * mag + (1 << sq_shift)) >> sq_shift) * mag) + _round_half(shift_cub)) >> shift_cub
        accum = _row_pool(val, shift_rows)
        divisor = 2.0 ** (DEN_S123_FLOAT_SHIFT[scale - 1] - shift_rows - shift_cub)
    cubes = torch.tensor([f ** 3 for f in _csf_factors(scale)], dtype=torch.float64, device=o.device)
    csf = (accum.to(torch.float64) / divisor * cubes).to(torch.float32)
    floor = _noise_floor_f32(area, o.device)
    parts = [_cube_root_f32(c) + floor for c in csf.unbind(1)]
    return (parts[0] + parts[1]) + parts[2]


# --------------------------------------------------------------------- features


def _scale_num_den(o: torch.Tensor, t: torch.Tensor, scale: int, enhn_gain_limit: float
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """float32 numerator and denominator [N] of one scale from int64 (h, v, d) subbands [N,3,h,w]."""
    h, w = o.shape[-2:]
    region = pooling_region(h, w)
    top, bottom, left, right = region
    r, a = _decouple(crop_with_halo(o, region), crop_with_halo(t, region), scale, enhn_gain_limit)
    _, flt, centre = _csf(a, scale)
    del a
    threshold = _threshold(flt, centre, _vector_cm_mask(h, w, region, o.device) if scale == 0 else None)
    area = (bottom - top) * (right - left)
    num = _numerator(r[..., 1:-1, 1:-1], threshold, scale, h, w, area)
    den = _denominator(o[..., top:bottom, left:right], scale)
    return num, den


def _as_codes(x: torch.Tensor) -> torch.Tensor:
    if x.is_floating_point():
        x = x.round()
    return x.to(torch.int64)


def integer_adm_features(
    ref: torch.Tensor, dis: torch.Tensor, bit_depth: int = 8, enhn_gain_limit: float = DEFAULT_ENHN_GAIN_LIMIT
) -> dict[str, torch.Tensor]:
    """libvmaf integer_adm of frames [N,1,H,W] of integer code values (0..2^bit_depth-1, not rescaled).

    Returns {'adm2', 'adm_scale0'..'adm_scale3'}, each [N] float64, bit-exact with libvmaf.
    enhn_gain_limit: 100 (default) or 1.0 for the NEG models. Forward only (no autograd).
    """
    if ref.shape != dis.shape or ref.dim() != 4 or ref.shape[1] != 1:
        raise ValueError(f"expected matching [N,1,H,W] inputs, got {tuple(ref.shape)} and {tuple(dis.shape)}")
    if not 8 <= bit_depth <= 12:  # libvmaf's 32-bit DWT accumulators overflow above 12 bits
        raise ValueError(f"unsupported bit depth {bit_depth}")
    height, width = ref.shape[-2:]
    if min(height, width) < MIN_SIZE:
        raise ValueError(f"ADM needs frames of at least {MIN_SIZE}x{MIN_SIZE}, got {width}x{height}")
    if enhn_gain_limit < 1.0:
        raise ValueError("enhn_gain_limit must be >= 1.0")
    n = ref.shape[0]
    with torch.no_grad():
        x = torch.cat((_as_codes(ref), _as_codes(dis)))[:, 0]
        features: dict[str, torch.Tensor] = {}
        num_total = torch.zeros(n, dtype=torch.float64, device=x.device)
        den_total = torch.zeros_like(num_total)
        for scale in range(NUM_SCALES):
            x, bands = _dwt(x, scale, bit_depth)
            num, den = _scale_num_den(bands[:n], bands[n:], scale, enhn_gain_limit)
            num, den = num.to(torch.float64), den.to(torch.float64)
            features[f"adm_scale{scale}"] = num / den
            num_total += num
            den_total += den
        limit = 1e-10 * (width * height) / (1920.0 * 1080.0)
        num_total = torch.where(num_total < limit, 0.0, num_total)
        den_total = torch.where(den_total < limit, 0.0, den_total)
        valid = den_total != 0.0
        adm2 = torch.where(valid, num_total / torch.where(valid, den_total, 1.0), 1.0)
    return {"adm2": adm2, **features}
