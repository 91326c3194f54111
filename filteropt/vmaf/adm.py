"""libvmaf's float ADM feature (`float_adm`): adm2 and adm_scale0..3, differentiable.

Pipeline per scale (4 scales, the LL band feeds the next one): db2 DWT of reference and
distorted frames, decoupling of the distorted subbands into restored and additive parts,
CSF weighting, contrast masking of the restored part by the additive part, and cube-sum
pooling over the frame minus a 10% border.  Subband channels are ordered (h, v, d):
h = vertical high-pass/horizontal low-pass, v = the opposite, d = high-pass both ways.
"""

from __future__ import annotations

import math
import struct

import torch
from torch.autograd.function import once_differentiable

BORDER_FACTOR = 0.1
DEFAULT_ENHN_GAIN_LIMIT = 100.0
NORM_VIEW_DIST = 3.0
REF_DISPLAY_HEIGHT = 1080
NOISE_WEIGHT = 0.03125
NUM_SCALES = 4
# smallest frame side with well-defined results: the coarsest subband must be >= 2 pixels
MIN_SIZE = 17


def _f32(x: float) -> float:
    """Round a Python float to the nearest float32 value (libvmaf stores these constants as float)."""
    return struct.unpack("f", struct.pack("f", x))[0]


DB2_LO = tuple(_f32(c) for c in (0.482962913144690, 0.836516303737469, 0.224143868041857, -0.129409522550921))
DB2_HI = tuple(_f32(c) for c in (-0.129409522550921, -0.224143868041857, 0.836516303737469, -0.482962913144690))
ONE_BY_30 = _f32(0.0333333351)
ONE_BY_15 = _f32(0.0666666701)
COS_1DEG_SQ = _f32(math.cos(math.pi / 180.0) ** 2)
CUBE_ROOT_EXP = _f32(1.0 / 3.0)  # libvmaf raises to powf(., 1.0f / 3)

# Watson et al. 1997 DWT noise-visibility model for luma (a, k, f0, g[theta]) and basis amplitudes
_WATSON_Y = (0.495, 0.466, 0.401, (1.501, 1.0, 0.534, 1.0))
_WATSON_AMPLITUDES = (
    (0.62171, 0.67234, 0.72709, 0.67234),
    (0.34537, 0.41317, 0.49428, 0.41317),
    (0.18004, 0.22727, 0.28688, 0.22727),
    (0.091401, 0.11792, 0.15214, 0.11792),
)


# ---------------------------------------------------------------------------- DWT


def _take(x: torch.Tensor, dim: int, start: int, count: int, step: int = 1) -> torch.Tensor:
    """View of `count` entries of x along dim from start with the given step."""
    idx = [slice(None)] * x.dim()
    idx[dim] = slice(start, start + step * (count - 1) + 1, step)
    return x[tuple(idx)]


def _mirror(i: int, n: int) -> int:
    """libvmaf DWT border: index -1 reflects to 1; past the end n -> n-1, n+1 -> n-2 (edge repeated)."""
    return -i if i < 0 else (2 * n - i - 1 if i >= n else i)


def _filter_taps(out: torch.Tensor, inputs: list[torch.Tensor], taps: tuple[float, ...],
                 scratch: torch.Tensor) -> None:
    """out = ((t0*x0 + t1*x1) + t2*x2) + t3*x3, each product rounded (no FMA), in libvmaf's order.

    scratch: flat buffer of at least out.numel() elements for the products.
    """
    torch.mul(inputs[0], taps[0], out=out)
    product = scratch[:out.numel()].view(out.shape)
    for x, tap in zip(inputs[1:], taps[1:]):
        out.add_(torch.mul(x, tap, out=product))


def _analysis_1d(x: torch.Tensor, dim: int, out_lo: torch.Tensor, out_hi: torch.Tensor,
                 scratch: torch.Tensor) -> None:
    """Write the db2 low/high-pass outputs of x along dim (stride 2) into out_lo / out_hi."""
    n = x.shape[dim]
    m = (n + 1) // 2
    for out, taps in ((out_lo, DB2_LO), (out_hi, DB2_HI)):
        if m > 2:  # outputs 1..m-2 read rows 2i-1..2i+2, all inside the frame
            inputs = [_take(x, dim, 1 + k, m - 2, 2) for k in range(4)]
            _filter_taps(_take(out, dim, 1, m - 2), inputs, taps, scratch)
        for i in {0, m - 1}:
            src = [_mirror(2 * i - 1 + k, n) for k in range(4)]
            _filter_taps(_take(out, dim, i, 1), [_take(x, dim, j, 1) for j in src], taps, scratch)


def _analysis_1d_adjoint(g_lo: torch.Tensor, g_hi: torch.Tensor, dim: int, n: int) -> torch.Tensor:
    """Adjoint of `_analysis_1d`: gradient w.r.t. the length-n input from output gradients."""
    m = g_lo.shape[dim]
    shape = list(g_lo.shape)
    shape[dim] = 2 * m + 2  # padded coordinate p = 2i + k holds input index p - 1
    gp = g_lo.new_empty(shape)
    for parity, (k0, k1) in enumerate(((0, 2), (1, 3))):
        lane = _take(gp, dim, parity, m + 1, 2)  # p = 2i + parity, i = 0..m
        head = _take(lane, dim, 0, m)
        torch.mul(g_lo, DB2_LO[k0], out=head)
        head.add_(g_hi, alpha=DB2_HI[k0])
        _take(lane, dim, m, 1).zero_()
        tail = _take(lane, dim, 1, m)
        tail.add_(g_lo, alpha=DB2_LO[k1])
        tail.add_(g_hi, alpha=DB2_HI[k1])
    gx = gp.narrow(dim, 1, n)
    gx.narrow(dim, 1, 1).add_(gp.narrow(dim, 0, 1))
    for p in range(n + 1, 2 * m + 2):
        gx.narrow(dim, 2 * n - p, 1).add_(gp.narrow(dim, p, 1))
    return gx


def _column_taps(even: torch.Tensor, odd: torch.Tensor, w: int, j: int) -> list[torch.Tensor]:
    """The 4 input columns (as [...,1] views of the even/odd column tensors) of output column j."""
    src = [_mirror(2 * j - 1 + k, w) for k in range(4)]
    return [(odd if c % 2 else even)[..., c // 2:c // 2 + 1] for c in src]


def _analysis_columns(even: torch.Tensor, odd: torch.Tensor, w: int,
                      out_lo: torch.Tensor, out_hi: torch.Tensor, scratch: torch.Tensor) -> None:
    """Horizontal db2 pass of a width-w input given as its even and odd columns (contiguous reads)."""
    m = (w + 1) // 2
    # output j reads columns 2j-1, 2j, 2j+1, 2j+2 = odd[j-1], even[j], odd[j], even[j+1]
    inner = [odd[..., 0:m - 2], even[..., 1:m - 1], odd[..., 1:m - 1], even[..., 2:m]]
    for out, taps in ((out_lo, DB2_LO), (out_hi, DB2_HI)):
        if m > 2:
            _filter_taps(out[..., 1:m - 1], inner, taps, scratch)
        for j in {0, m - 1}:
            _filter_taps(out[..., j:j + 1], _column_taps(even, odd, w, j), taps, scratch)


def _analysis_columns_adjoint(g_lo: torch.Tensor, g_hi: torch.Tensor, w: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Adjoint of `_analysis_columns`: gradients w.r.t. the even and odd input columns."""
    m = g_lo.shape[-1]
    g_even = g_lo.new_zeros(*g_lo.shape[:-1], (w + 1) // 2)
    g_odd = g_lo.new_zeros(*g_lo.shape[:-1], w // 2)
    inner = [g_odd[..., 0:m - 2], g_even[..., 1:m - 1], g_odd[..., 1:m - 1], g_even[..., 2:m]]
    for g, taps in ((g_lo, DB2_LO), (g_hi, DB2_HI)):
        if m > 2:
            for dst, tap in zip(inner, taps):
                dst.add_(g[..., 1:m - 1], alpha=tap)
        for j in {0, m - 1}:
            for dst, tap in zip(_column_taps(g_even, g_odd, w, j), taps):
                dst.add_(g[..., j:j + 1], alpha=tap)
    return g_even, g_odd


class _Dwt2(torch.autograd.Function):
    """One level of libvmaf's 2-D db2 DWT (rows, then columns) with a hand-written linear backward.

    Takes several [Bi,1,H,W] inputs and returns their bands stacked along the batch. Float
    arithmetic follows libvmaf's order with every product rounded, so float32 subbands are
    bit-identical to libvmaf's (which keeps its 1-degree angle test decisions). The even/odd
    input columns are staged in the output's memory to keep fresh allocations low.
    """

    @staticmethod
    def forward(ctx, offset: float, *frames: torch.Tensor) -> torch.Tensor:
        sizes = [f.shape[0] for f in frames]
        b, (h, w) = sum(sizes), frames[0].shape[-2:]
        h2, w2, w_odd = (h + 1) // 2, (w + 1) // 2, w // 2
        out = frames[0].new_empty(b, 4, h2, w2)
        flat = out.view(-1)
        columns = [flat[:b * h * w2].view(b, 1, h, w2), flat[b * h * w2:b * h * w].view(b, 1, h, w_odd)]
        start = 0
        for f, nb in zip(frames, sizes):
            for parity, cols in enumerate(columns):
                torch.sub(f[..., parity::2], offset, out=cols[start:start + nb])
            start += nb
        scratch = out.new_empty(b * h2 * w2)
        rows = []
        for cols in columns:
            filtered = out.new_empty(b, 2, h2, cols.shape[-1])
            _analysis_1d(cols, 2, filtered[:, 0:1], filtered[:, 1:2], scratch)
            rows.append(filtered)
        # low-pass rows -> (a, h), high-pass rows -> (v, d): out channels (a, h, v, d)
        for ch in (0, 1):
            band = slice(ch, ch + 1)
            _analysis_columns(rows[0][:, band], rows[1][:, band], w, out[:, ch:ch + 1], out[:, ch + 2:ch + 3], scratch)
        ctx.sizes, ctx.hw = sizes, (h, w)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        grads: list[torch.Tensor | None] = [None]
        start = 0
        for nb, needed in zip(ctx.sizes, ctx.needs_input_grad[1:]):
            grads.append(_dwt_adjoint(grad[start:start + nb], *ctx.hw) if needed else None)
            start += nb
        return tuple(grads)


def _dwt_adjoint(grad: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """Gradient w.r.t. the [B,1,h,w] input of one DWT level from the band gradients [B,4,...]."""
    g_columns = _analysis_columns_adjoint(grad[:, 0:2], grad[:, 2:4], w)
    gx = grad.new_empty(grad.shape[0], 1, h, w)
    for parity, g in enumerate(g_columns):
        gx[..., parity::2] = _analysis_1d_adjoint(g[:, 0:1], g[:, 1:2], 2, h)
    return gx


def dwt(x: torch.Tensor, offset: float = 0.0) -> torch.Tensor:
    """One DWT level of (x - offset), x [B,1,H,W] -> [B,4,ceil(H/2),ceil(W/2)] bands (a, h, v, d).

    db2 filters, libvmaf's borders: index -1 mirrors to 1, past the end n -> n-1, n+1 -> n-2.
    a: low-pass both ways (next scale's input), h: vertical high-pass/horizontal low-pass,
    v: vertical low-pass/horizontal high-pass, d: high-pass both ways.
    """
    return _Dwt2.apply(offset, x)


def dwt_pair(ref: torch.Tensor, dis: torch.Tensor, offset: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """`dwt` of ref and dis [N,1,H,W] in one batched pass; returns (ref_bands, dis_bands)."""
    bands = _Dwt2.apply(offset, ref, dis)
    return bands[:ref.shape[0]], bands[ref.shape[0]:]


# ------------------------------------------------------------------ decoupling


def angle_flag(o: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """True where the (h,v) subband vectors of ref o and dis t are within 1 degree. [N,1,h,w] bool."""
    with torch.no_grad():
        o1, o2, t1, t2 = o[:, 0:1], o[:, 1:2], t[:, 0:1], t[:, 1:2]
        dot = o1 * t1 + o2 * t2
        o_mag = o1 * o1 + o2 * o2
        t_mag = t1 * t1 + t2 * t2
        return (dot >= 0) & (dot * dot >= COS_1DEG_SQ * o_mag * t_mag)


def decouple(
    o: torch.Tensor, t: torch.Tensor, enhn_gain_limit: float = DEFAULT_ENHN_GAIN_LIMIT,
    flag: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Split dis subbands t [N,3,h,w] into restored r and additive a = t - r, given ref subbands o.

    libvmaf: r = clamp(t / o, 0, 1) * o, and where the angle test passes and r != 0,
    r = min(r * gain, t) (max for negatives).  Equivalently, written without a division:
    r = clamp(t, -L|o|, L|o|) where o, t share a sign (else 0), L = gain if the angle test passes else 1.
    flag: precomputed angle test [N,1,h,w] (default: `angle_flag(o, t)`).
    """
    limit = o.abs()
    if enhn_gain_limit != 1.0:
        flag = angle_flag(o, t) if flag is None else flag
        gain = torch.where(flag, enhn_gain_limit, 1.0).to(o.dtype)
        limit = limit * gain
    with torch.no_grad():
        same_sign = (o * t) > 0
    r = torch.where(same_sign, torch.clamp(t, -limit, limit), 0.0)
    return r, t - r


# ------------------------------------------------------------------------ CSF


def csf_weights(scale: int, norm_view_dist: float = NORM_VIEW_DIST,
                ref_display_height: int = REF_DISPLAY_HEIGHT) -> tuple[float, float, float]:
    """libvmaf's default (Watson 1997) CSF weights 1/Q for the (h, v, d) subbands of a scale."""
    a, k, f0, g = (_f32(v) if not isinstance(v, tuple) else tuple(_f32(e) for e in v) for v in _WATSON_Y)
    r = _f32(norm_view_dist * ref_display_height * math.pi / 180.0)

    def inv_q(theta: int) -> float:
        temp = _f32(math.log10(2.0 ** (scale + 1) * f0 * g[theta] / r))
        q = _f32(2.0 * a * 10.0 ** (k * temp * temp) / _f32(_WATSON_AMPLITUDES[scale][theta]))
        return _f32(1.0 / q)

    hv, diag = inv_q(1), inv_q(2)
    return hv, hv, diag


def csf(bands: torch.Tensor, scale: int) -> torch.Tensor:
    """Weight (h, v, d) subbands [N,3,h,w] of a scale by the CSF."""
    w = torch.tensor(csf_weights(scale), dtype=bands.dtype, device=bands.device)
    return bands * w.view(1, 3, 1, 1)


# --------------------------------------------------------------------- masking


def masking_threshold(csf_a: torch.Tensor) -> torch.Tensor:
    """Contrast-masking threshold from CSF-weighted additive subbands [N,3,h+2,w+2] (1-pixel halo).

    Sum over orientations of a 3x3 filter of |csf_a| (1/30 off-centre, 1/15 centre). Returns [N,1,h,w].
    """
    s = csf_a.abs().sum(1, keepdim=True)
    rows = s[:, :, :-2] + s[:, :, 1:-1] + s[:, :, 2:]
    box = rows[..., :-2] + rows[..., 1:-1] + rows[..., 2:]
    return box * ONE_BY_30 + s[:, :, 1:-1, 1:-1] * (ONE_BY_15 - ONE_BY_30)


def masked_restored(csf_r: torch.Tensor, threshold: torch.Tensor) -> torch.Tensor:
    """max(|csf_r| - threshold, 0): the visible part of the restored subbands."""
    return (csf_r.abs() - threshold).clamp_min(0.0)


# --------------------------------------------------------------------- pooling


def pooling_region(h: int, w: int, border_factor: float = BORDER_FACTOR) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) of the pooled area of an h x w subband (libvmaf truncation)."""
    top = int(h * border_factor - 0.5)
    left = int(w * border_factor - 0.5)
    return top, h - top, left, w - left


def _halo(x: torch.Tensor, dim: int, start: int, stop: int) -> torch.Tensor:
    """x[start-1 : stop+1] along dim; outside the frame row -1 reflects to 1, row n repeats n-1."""
    n = x.shape[dim]
    if start >= 1 and stop <= n - 1:
        return x.narrow(dim, start - 1, stop - start + 2)
    idx = [1 if i < 0 else (n - 1 if i >= n else i) for i in range(start - 1, stop + 1)]
    return x.index_select(dim, torch.tensor(idx, device=x.device))


def crop_with_halo(x: torch.Tensor, region: tuple[int, int, int, int]) -> torch.Tensor:
    """Crop [..., h, w] to the pooling region plus a 1-pixel neighbourhood (libvmaf border mirror)."""
    top, bottom, left, right = region
    return _halo(_halo(x, -2, top, bottom), -1, left, right)


def noise_floor(num_pixels: int, weight: float = NOISE_WEIGHT) -> float:
    """libvmaf's additive constant (pixels * weight)^(1/3) per pooled subband, in float32."""
    return _f32(_f32(num_pixels * weight) ** CUBE_ROOT_EXP)


def cube_pool(x: torch.Tensor) -> torch.Tensor:
    """(sum |x|^3)^(1/3) over the last two dims of [N,C,h,w] plus the noise floor, float64 [N,C]."""
    x = x.abs()
    total = (x * x * x).sum(-1).to(torch.float64).sum(-1)
    positive = total > 0
    root = torch.where(positive, torch.where(positive, total, 1.0) ** CUBE_ROOT_EXP, 0.0)
    return root + noise_floor(x.shape[-2] * x.shape[-1])


# --------------------------------------------------------------------- features


def adm_scale_num_den(
    ref_bands: torch.Tensor, dis_bands: torch.Tensor, scale: int,
    enhn_gain_limit: float = DEFAULT_ENHN_GAIN_LIMIT, flag: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """ADM numerator and denominator [N] (float64) of one scale from (h, v, d) subbands [N,3,h,w].

    flag: optional angle test on the pooled region plus halo (see `decouple`).
    """
    region = pooling_region(*ref_bands.shape[-2:])
    o = crop_with_halo(ref_bands, region)
    t = crop_with_halo(dis_bands, region)
    r, a = decouple(o, t, enhn_gain_limit, flag)
    threshold = masking_threshold(csf(a, scale))
    inner = (slice(None), slice(None), slice(1, -1), slice(1, -1))
    num = cube_pool(masked_restored(csf(r[inner], scale), threshold)).sum(1)
    den = cube_pool(csf(o[inner], scale)).sum(1)
    return num, den


def adm_features(
    ref: torch.Tensor, dis: torch.Tensor, enhn_gain_limit: float = DEFAULT_ENHN_GAIN_LIMIT
) -> dict[str, torch.Tensor]:
    """libvmaf float_adm of frames [N,1,H,W] on the 8-bit scale: {'adm2', 'adm_scale0'..'adm_scale3'} [N].

    enhn_gain_limit: 100 (default) or 1.0 for the NEG models (no enhancement gain).
    """
    if not (ref.is_floating_point() and dis.dtype == ref.dtype):
        raise TypeError(f"expected floating-point inputs of one dtype, got {ref.dtype} and {dis.dtype}")
    if ref.shape != dis.shape or ref.dim() != 4 or ref.shape[1] != 1:
        raise ValueError(f"expected matching [N,1,H,W] inputs, got {tuple(ref.shape)} and {tuple(dis.shape)}")
    height, width, dtype = ref.shape[-2], ref.shape[-1], ref.dtype
    if min(height, width) < MIN_SIZE:
        raise ValueError(f"ADM needs frames of at least {MIN_SIZE}x{MIN_SIZE}, got {width}x{height}")
    if enhn_gain_limit < 1.0:
        raise ValueError("enhn_gain_limit must be >= 1.0")
    # libvmaf runs the 1-degree angle test in float32; other dtypes take it from a float32 DWT
    # so that near-threshold decisions agree with libvmaf
    track32 = dtype != torch.float32 and enhn_gain_limit != 1.0
    ref32, dis32 = (ref.detach().float(), dis.detach().float()) if track32 else (None, None)
    offset = 128.0  # libvmaf works on pixel - 128
    features: dict[str, torch.Tensor] = {}
    num_total = den_total = 0.0
    for scale in range(NUM_SCALES):
        ref_bands, dis_bands = dwt_pair(ref, dis, offset)
        flag = None
        if track32:
            with torch.no_grad():
                ref32, dis32 = dwt_pair(ref32, dis32, offset)
                region = pooling_region(*ref32.shape[-2:])
                flag = angle_flag(crop_with_halo(ref32[:, 1:], region), crop_with_halo(dis32[:, 1:], region))
                ref32, dis32 = ref32[:, :1], dis32[:, :1]
        num, den = adm_scale_num_den(ref_bands[:, 1:], dis_bands[:, 1:], scale, enhn_gain_limit, flag)
        features[f"adm_scale{scale}"] = (num / den).to(dtype)
        num_total = num_total + num
        den_total = den_total + den
        ref, dis, offset = ref_bands[:, :1], dis_bands[:, :1], 0.0
    limit = 1e-10 * (width * height) / (1920.0 * 1080.0)
    num_total = torch.where(num_total < limit, 0.0, num_total)
    valid = den_total >= limit
    adm2 = torch.where(valid, num_total / torch.where(valid, den_total, 1.0), 1.0)
    return {"adm2": adm2.to(dtype), **features}
