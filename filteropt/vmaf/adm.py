"""libvmaf's float ADM feature (`float_adm`): adm2 and adm_scale0..3, differentiable.

Pipeline per scale (4 scales, the LL band feeds the next one): db2 DWT of reference and
distorted frames, decoupling of the distorted subbands into restored and additive parts,
CSF weighting, contrast masking of the restored part by the additive part, and cube-sum
pooling over the frame minus a 10% border.  Subband channels are ordered (h, v, d):
h = vertical high-pass/horizontal low-pass, v = the opposite, d = high-pass both ways.
"""

from __future__ import annotations

import functools
import math
import struct

import torch
from torch.autograd.function import once_differentiable

from filteropt.vmaf.masks import float_mask

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


def _pad_for_dwt(x: torch.Tensor) -> torch.Tensor:
    """[B,H,W] -> [B, H+3, 2(m+1)] (m = ceil(W/2)): rows and columns padded, columns split even/odd.

    Padded entry p of an axis of length n holds input index p - 1 with libvmaf's borders: -1
    reflects to 1, past the end n -> n-1, n+1 -> n-2 (edge repeated). n + 3 entries cover the
    taps of all ceil(n/2) outputs (output i reads entries 2i .. 2i+3). The padded columns come
    even entries first, then odd ones, m + 1 of each, so the horizontal pass reads contiguous memory.
    """
    h, w = x.shape[-2:]
    rows = torch.cat([x[:, 1:2], x, x[:, h - 1:h], x[:, h - 2:h - 1]], dim=1)
    last, before_last = rows[..., w - 1:w], rows[..., w - 2:w - 1]
    if w % 2:  # even entries: columns 1, 1, 3, ..., w-2, w-1; odd: 0, 2, ..., w-1, w-2
        parts = [rows[..., 1:2], rows[..., 1::2], last, rows[..., 0::2], before_last]
    else:  # even entries: columns 1, 1, 3, ..., w-1; odd: 0, 2, ..., w-2, w-1
        parts = [rows[..., 1:2], rows[..., 1::2], rows[..., 0::2], last]
    return torch.cat(parts, dim=-1)


@functools.lru_cache(maxsize=64)
def _db2_tap_columns(dtype: torch.dtype, device: torch.device, dims: int) -> tuple[torch.Tensor, ...]:
    """Tap k of the db2 low- and high-pass filters, k = 0..3, each a [2, 1, ...] tensor of 1 + dims dims."""
    taps = torch.tensor((DB2_LO, DB2_HI), dtype=dtype, device=device)
    return tuple(taps[:, k].reshape((2,) + (1,) * dims).clone() for k in range(4))


def _tap_sum(views: list[torch.Tensor], out: torch.Tensor, scratch: torch.Tensor) -> None:
    """out = ((t0*x0 + t1*x1) + t2*x2) + t3*x3, every product rounded (no FMA), libvmaf's order.

    The low- and high-pass taps t are broadcast as out's leading dimension (2); scratch: like out.
    """
    taps = _db2_tap_columns(out.dtype, out.device, views[0].dim())
    torch.mul(views[0], taps[0], out=out)
    for k in range(1, 4):
        out.add_(torch.mul(views[k], taps[k], out=scratch))


def _tap_sum_adjoint(grad: torch.Tensor, views: list[torch.Tensor]) -> None:
    """Adjoint of `_tap_sum`: views[k] += lo[k] * grad[0] + hi[k] * grad[1] (views may overlap)."""
    lo, hi = grad.unbind(0)
    for k, view in enumerate(views):
        view.add_(lo, alpha=DB2_LO[k]).add_(hi, alpha=DB2_HI[k])


class _Dwt(torch.autograd.Function):
    """libvmaf's db2 DWT level of (x - offset), [B,H,W] -> [4,B,ceil(H/2),ceil(W/2)]; linear backward.

    The input is padded and its columns split into even and odd ones once (`_pad_for_dwt`), so
    each pass is four products and three sums over whole tensors, both filters at once.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, offset: float) -> torch.Tensor:
        h, w = x.shape[-2:]
        m, m2 = (h + 1) // 2, (w + 1) // 2
        padded = _pad_for_dwt(x)
        if offset:
            padded.sub_(offset)
        # vertical pass: output row i reads padded rows 2i .. 2i+3 -> [2 (lo, hi), B, m, 2(m2+1)]
        rows = x.new_empty(2, x.shape[0], m, 2 * m2 + 2)
        scratch = torch.empty_like(rows)
        _tap_sum([padded[:, k:k + 2 * m - 1:2] for k in range(4)], rows, scratch)
        # horizontal pass: output column j reads even[j], odd[j], even[j+1], odd[j+1]
        even, odd = rows[..., :m2 + 1], rows[..., m2 + 1:]
        bands = x.new_empty(2, 2, x.shape[0], m, m2)  # (horizontal, vertical band): a, h, v, d
        _tap_sum([even[..., :m2], odd[..., :m2], even[..., 1:], odd[..., 1:]], bands,
                 scratch.view(-1)[:bands.numel()].view(bands.shape))
        ctx.hw = (h, w)
        return bands.view(4, x.shape[0], m, m2)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        h, w = ctx.hw
        b, m, m2 = grad.shape[1:]
        grad = grad.view(2, 2, b, m, m2)
        rows = grad.new_zeros(2, b, m, 2 * m2 + 2)
        even, odd = rows[..., :m2 + 1], rows[..., m2 + 1:]
        _tap_sum_adjoint(grad, [even[..., :m2], odd[..., :m2], even[..., 1:], odd[..., 1:]])
        padded = grad.new_zeros(b, h + 3, 2 * m2 + 2)
        _tap_sum_adjoint(rows, [padded[:, k:k + 2 * m - 1:2] for k in range(4)])
        return _pad_for_dwt_adjoint(padded, h, w), None


def _pad_for_dwt_adjoint(padded: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """Adjoint of `_pad_for_dwt`: sums each padded entry's gradient into its source pixel."""
    rows = padded[:, 1:h + 1].clone()
    rows[:, 1] += padded[:, 0]
    rows[:, h - 1] += padded[:, h + 1]
    rows[:, h - 2] += padded[:, h + 2]
    m = (w + 1) // 2
    even, odd = rows[..., :m + 1], rows[..., m + 1:]
    x = padded.new_empty(padded.shape[0], h, w)
    x[..., 0::2] = odd[..., :m]
    x[..., 1::2] = even[..., 1:1 + w // 2]
    x[..., 1] += even[..., 0]
    if w % 2:  # even entries end with column w-1, odd entries with column w-2
        x[..., w - 1] += even[..., m]
        x[..., w - 2] += odd[..., m]
    else:  # odd entries end with column w-1
        x[..., w - 1] += odd[..., m]
    return x


def dwt_bands(x: torch.Tensor, offset: float = 0.0) -> torch.Tensor:
    """One level of libvmaf's db2 DWT of (x - offset), x [B,H,W] -> bands [4,B,ceil(H/2),ceil(W/2)].

    Bands (a, h, v, d): a low-pass both ways (next scale's input), h vertical high-pass /
    horizontal low-pass, v the opposite, d high-pass both ways; libvmaf's borders (see
    `_pad_for_dwt`). Every product is rounded before it is added, in libvmaf's order, so
    float32 bands are bit-identical to libvmaf's (its 1-degree angle test then decides alike).
    """
    return _Dwt.apply(x, offset)


# ------------------------------------------------------------------ decoupling


def angle_flag(o: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """True where the (h,v) subband vectors of ref o and dis t are within 1 degree. [N,1,h,w] bool."""
    with torch.no_grad():
        o1, o2, t1, t2 = o[:, 0:1], o[:, 1:2], t[:, 0:1], t[:, 1:2]
        dot = o1 * t1 + o2 * t2
        o_mag = o1 * o1 + o2 * o2
        t_mag = t1 * t1 + t2 * t2
        return (dot >= 0) & (dot * dot >= COS_1DEG_SQ * o_mag * t_mag)


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


@functools.lru_cache(maxsize=64)
def _csf_tensor(scale: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """`csf_weights` of a scale as a [1,3,1,1] tensor (cached: built once per dtype and device)."""
    return torch.tensor(csf_weights(scale), dtype=dtype, device=device).view(1, 3, 1, 1)


def csf(bands: torch.Tensor, scale: int) -> torch.Tensor:
    """Weight (h, v, d) subbands [N,3,h,w] of a scale by the CSF."""
    return bands * _csf_tensor(scale, bands.dtype, bands.device)


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


def pooled_pixels(height: int, width: int) -> list[int]:
    """Pixels of each scale's pooling region for frames of height x width."""
    pixels = []
    for _ in range(NUM_SCALES):
        height, width = (height + 1) // 2, (width + 1) // 2
        top, bottom, left, right = pooling_region(height, width)
        pixels.append((bottom - top) * (right - left))
    return pixels


def noise_floor(num_pixels: int, weight: float = NOISE_WEIGHT) -> float:
    """libvmaf's additive constant (pixels * weight)^(1/3) per pooled subband, in float32."""
    return _f32(_f32(num_pixels * weight) ** CUBE_ROOT_EXP)


def _cube_totals(x: torch.Tensor) -> torch.Tensor:
    """sum |x|^3 over the last two dims of [N,C,h,w]: rows summed in x's dtype, then in float64. [N,C]"""
    x = x.abs()
    return (x * x * x).sum(-1).to(torch.float64).sum(-1)


def _cube_root(total: torch.Tensor, floor: torch.Tensor) -> torch.Tensor:
    """total^(1/3) (0 for 0, with a zero gradient there) plus the noise floor, float64."""
    positive = total > 0
    root = torch.where(positive, torch.where(positive, total, 1.0) ** CUBE_ROOT_EXP, 0.0)
    return root + floor


# --------------------------------------------------------------------- features


_INNER = (slice(None), slice(None), slice(1, -1), slice(1, -1))  # the pooled region inside its halo


def _scale_maps(o: torch.Tensor, t: torch.Tensor, scale: int, gain: torch.Tensor | None) -> dict[str, torch.Tensor]:
    """The per-pixel stages of one scale from cropped ref and dis subbands with halo o, t [N,3,h+2,w+2].

    Decoupling splits t into restored r and additive a = t - r. libvmaf: r = clamp(t / o, 0, 1) * o,
    and where the angle test passes and r != 0, r = min(r * gain, t) (max for negatives);
    equivalently, without a division: r = clamp(t, -L|o|, L|o|) where o and t share a sign (else
    0), L = gain where the angle test passes, else 1. gain: that L per pixel [N,1,h+2,w+2] (None:
    1 everywhere). Then the CSF, the masking threshold from the additive part and the visible
    restored part (`csf`, `masking_threshold`, `masked_restored`).
    """
    limit = o.abs() if gain is None else o.abs() * gain
    same_sign = float_mask(torch.gt, o * t, 0.0)
    r = torch.clamp(t, -limit, limit).mul_(same_sign)
    csf_a = csf(t - r, scale)
    threshold = masking_threshold(csf_a)
    csf_r = csf(r[_INNER], scale)
    return {"limit": limit, "same_sign": same_sign, "csf_a": csf_a, "threshold": threshold, "csf_r": csf_r,
            "visible": masked_restored(csf_r, threshold), "csf_o": csf(o[_INNER], scale)}


def _box_adjoint(g: torch.Tensor) -> torch.Tensor:
    """Adjoint of the 3x3 box sum of `masking_threshold`: [N,1,h,w] -> [N,1,h+2,w+2]."""
    h, w = g.shape[-2:]
    padded = torch.nn.functional.pad(g, (2, 2, 2, 2))
    rows = padded[..., 0:h + 2, :] + padded[..., 1:h + 3, :] + padded[..., 2:h + 4, :]
    return rows[..., 0:w + 2] + rows[..., 1:w + 3] + rows[..., 2:w + 4]


class _AdmScale(torch.autograd.Function):
    """Cube totals [N,3] of one scale's visible restored and CSF-weighted reference subbands.

    From cropped subbands with halo; hand-written backward: autograd through the dozens of
    per-pixel steps of a scale cost more than the forward pass, so backward applies their
    derivatives to the per-pixel maps the forward pass kept.
    """

    @staticmethod
    def forward(ctx, o: torch.Tensor, t: torch.Tensor, gain: torch.Tensor | None, scale: int):
        maps = _scale_maps(o, t, scale, gain)
        ctx.save_for_backward(o, t, gain)
        ctx.maps = maps if any(ctx.needs_input_grad[:2]) else None
        ctx.scale = scale
        return _cube_totals(maps["visible"]), _cube_totals(maps["csf_o"])

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_num: torch.Tensor, grad_den: torch.Tensor):
        o, t, gain = ctx.saved_tensors
        scale = ctx.scale
        maps = ctx.maps if ctx.maps is not None else _scale_maps(o, t, scale, gain)
        ctx.maps = None  # a second backward recomputes them
        weights = _csf_tensor(scale, o.dtype, o.device)
        # d sum |x|^3 / dx = 3 x |x|; the reference's subbands are weighted by the CSF
        num_coef = (3.0 * grad_num).to(o.dtype)[..., None, None]
        weights64 = _csf_tensor(scale, torch.float64, o.device).view(1, 3)
        den_coef = (3.0 * grad_den * weights64).to(o.dtype)[..., None, None]
        # visible = max(|csf_r| - threshold, 0) >= 0, and its pooled term's slope visible^2 is 0 where it is 0
        visible = maps["visible"]
        g_visible = num_coef * visible * visible
        g_r_inner = g_visible * maps["csf_r"].sign() * weights
        # threshold = box(S) / 30 + S (1/15 - 1/30), S = sum over bands |csf_a|
        g_thr = -g_visible.sum(1, keepdim=True)
        g_s = _box_adjoint(g_thr * ONE_BY_30)
        g_s[_INNER] += g_thr * (ONE_BY_15 - ONE_BY_30)
        g_a = g_s * maps["csf_a"].sign() * weights
        # a = t - r; r = clamp(t, -limit, limit) where o and t share a sign, else 0
        g_r = -g_a
        g_r[_INNER] += g_r_inner
        g_r = g_r * maps["same_sign"]
        inside = float_mask(torch.le, t.abs(), maps["limit"])
        g_t = g_a + g_r * inside
        # outside the band r = +-limit with the sign of t, which is o's: d r / d o = gain
        outside = inside.neg_().add_(1.0)
        g_o = g_r * outside if gain is None else g_r * outside * gain
        csf_o = maps["csf_o"]
        g_o[_INNER] += den_coef * csf_o * csf_o.abs()
        return g_o, g_t, None, None


def adm_scale_totals(
    ref_bands: torch.Tensor, dis_bands: torch.Tensor, scale: int,
    enhn_gain_limit: float = DEFAULT_ENHN_GAIN_LIMIT, flag: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cube totals [N,3] (float64) of one scale's numerator and denominator.

    From (h, v, d) subbands [N,3,h,w]; the scale's numerator is the sum over bands of
    `_cube_root(total, noise floor)`, likewise its denominator.
    flag: optional angle test on the pooled region plus halo (default: `angle_flag` of the subbands).
    """
    region = pooling_region(*ref_bands.shape[-2:])
    o = crop_with_halo(ref_bands, region)
    t = crop_with_halo(dis_bands, region)
    gain = None
    if enhn_gain_limit != 1.0:
        flag = angle_flag(o, t) if flag is None else flag
        gain = flag.to(o.dtype).mul_(enhn_gain_limit).clamp_min_(1.0)  # enhn_gain_limit where flagged, else 1
    return _AdmScale.apply(o, t, gain, scale)


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
    n = ref.shape[0]
    frames = torch.cat([ref[:, 0], dis[:, 0]])  # [2N, H, W]: both clips go through one DWT
    frames32 = frames.detach().float() if track32 else None
    offset = 128.0  # libvmaf works on pixel - 128
    num_totals, den_totals = [], []
    for scale in range(NUM_SCALES):
        bands = dwt_bands(frames, offset)  # [4, 2N, h, w]: a, h, v, d
        flag = None
        if track32:
            with torch.no_grad():
                bands32 = dwt_bands(frames32, offset)
                region = pooling_region(*bands32.shape[-2:])
                detail32 = bands32[1:].transpose(0, 1)
                flag = angle_flag(crop_with_halo(detail32[:n], region), crop_with_halo(detail32[n:], region))
                frames32 = bands32[0]
        detail = bands[1:].transpose(0, 1)  # [2N, 3, h, w]
        num, den = adm_scale_totals(detail[:n], detail[n:], scale, enhn_gain_limit, flag)
        num_totals.append(num)
        den_totals.append(den)
        frames, offset = bands[0], 0.0
    return adm_features_from_totals(torch.stack(num_totals, 1), torch.stack(den_totals, 1), height, width, dtype)


def adm_features_from_totals(num_totals: torch.Tensor, den_totals: torch.Tensor, height: int, width: int,
                             dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """{'adm2', 'adm_scale0'..'adm_scale3'} [N] in dtype from the cube totals [N, 4 scales, 3 bands]
    of frames of height x width."""
    # all scales' cube roots at once: [N, 4 scales, 3 bands] -> per-scale sums [N, 4]
    floors = [noise_floor(p) for p in pooled_pixels(height, width)]
    floor = torch.tensor(floors, dtype=torch.float64, device=num_totals.device).view(1, NUM_SCALES, 1)
    num = _cube_root(num_totals, floor).sum(-1)
    den = _cube_root(den_totals, floor).sum(-1)
    scales = (num / den).to(dtype)
    num_total, den_total = num.sum(1), den.sum(1)
    limit = 1e-10 * (width * height) / (1920.0 * 1080.0)
    num_total = torch.where(num_total < limit, 0.0, num_total)
    valid = den_total >= limit
    adm2 = torch.where(valid, num_total / torch.where(valid, den_total, 1.0), 1.0)
    return {"adm2": adm2.to(dtype), **{f"adm_scale{s}": scales[:, s] for s in range(NUM_SCALES)}}
