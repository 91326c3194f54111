"""Forward-only VIF and ADM sums compiled with numba: the fast path when no gradient is needed.

libvmaf's float extractors in float32, row by row so that every intermediate stays in the CPU
cache. VIF follows libvmaf's own arithmetic order (taps summed in order, products rounded, no
fused multiply-add, the statistic's log arguments in double, row sums in float32), so its
features equal libvmaf's to its printed precision (the PyTorch path's blurs are matrix products
and differ by up to ~3e-5). The db2 DWT rounds every product as libvmaf does, so its bands and
the 1-degree angle test that reads them are bit-identical to the PyTorch path's; the rest of
ADM follows `adm._AdmScale`. Per-frame sums go through the same final steps as the PyTorch path
(`vif.vif_features_from_sums`, `adm.adm_features_from_totals`).

The kernels release the GIL; each frame's work (VIF scale 0 in row bands, VIF scales 1-3, ADM)
runs on as many threads as torch uses (`torch.get_num_threads()`). numba caches the compiled
code on disk (the first use compiles for a few seconds).
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import numpy as np
import torch
from numba import njit

from filteropt.vmaf import adm, vif

_JIT = dict(cache=True, nogil=True, error_model="numpy")

_LOG2_COEFFS = tuple(np.float32(2.0 / (k * math.log(2.0))) for k in (1, 3, 5, 7, 9))
_SQRT2 = np.float32(math.sqrt(2.0))


# ----------------------------------------------------------------------------- VIF


@njit(inline="always", **_JIT)
def _mirror(i: int, n: int) -> int:
    """libvmaf's VIF border: -i below 0, 2n-2-i from n on (edge pixel not repeated)."""
    if i < 0:
        i = -i
    if i >= n:
        i = 2 * n - 2 - i
    return i


@njit(fastmath={"contract"}, **_JIT)
def _log2_row(arg, arg_bits, out, mant, mant_bits):
    """out = log2(arg) for arg >= 1 (float32 rows; *_bits are int32 views of arg and mant).

    Exponent from the bits, then log2 of the mantissa m in [sqrt(1/2), sqrt(2)) by the series
    2/ln2 (s + s^3/3 + ... + s^9/9), s = (m - 1)/(m + 1): within 3 float32 ulps of log2 (libm's
    log2f is within 1; either way far below what the per-frame sums resolve).
    """
    c1, c3, c5, c7, c9 = _LOG2_COEFFS
    for j in range(arg.shape[0]):
        b = arg_bits[j]
        out[j] = np.float32((b >> 23) - 127)
        mant_bits[j] = (b & 0x7FFFFF) | 0x3F800000
    for j in range(arg.shape[0]):
        m = mant[j]
        e = out[j]
        big = m > _SQRT2
        m = m * np.float32(0.5) if big else m
        e = e + np.float32(1.0) if big else e
        s = (m - np.float32(1.0)) / (m + np.float32(1.0))
        z = s * s
        out[j] = e + s * (c1 + z * (c3 + z * (c5 + z * (c7 + z * c9))))


@njit(**_JIT)
def _mirror_pad(padded, half: int, w: int) -> None:
    """Fill the `half` entries on each side of padded[half:half + w] with libvmaf's mirror."""
    for p in range(half):
        padded[half - 1 - p] = padded[half + 1 + p]
        padded[half + w + p] = padded[half + w - 2 - p]


@njit(**_JIT)
def _blur_row(padded, out, taps, w: int) -> None:
    """out[j] = sum over k in order of taps[k] * padded[j + k], j < w (padded: a row, mirrored here)."""
    n = taps.shape[0]
    _mirror_pad(padded, n // 2, w)
    out[:] = 0.0  # libvmaf's accumulators start at 0
    for k in range(n):
        t = taps[k]
        src = padded[k:k + w]
        for j in range(w):
            out[j] += t * src[j]


@njit(**_JIT)
def _vif_downsample(x, offset: float, taps):
    """Blur [h, w] x - offset with taps (mirrored borders), keep even rows and columns: [h // 2, w // 2]."""
    h, w = x.shape
    n = taps.shape[0]
    half = n // 2
    out = np.empty((h // 2, w // 2), np.float32)
    padded = np.empty(w + 2 * half, np.float32)
    acc = padded[half:half + w]
    off = np.float32(offset)
    for i in range(h // 2):
        acc[:] = 0.0
        for k in range(n):
            t = taps[k]
            src = x[_mirror(2 * i - half + k, h)]
            for j in range(w):
                acc[j] += t * (src[j] - off)
        _mirror_pad(padded, half, w)
        dst = out[i]
        for j in range(w // 2):
            s = np.float32(0.0)
            for k in range(n):
                s += taps[k] * padded[2 * j + k]
            dst[j] = s
    return out


@njit(**_JIT)
def _vif_rows(ref, dis, offset: float, taps, limit: float, sigma_nsq: float, eps: float, first: int, stop: int,
              row_num, row_den) -> None:
    """Per-row (num, den) sums of one VIF scale, rows first:stop of [h, w] frames minus offset.

    libvmaf's float arithmetic in its order: each blur a sum over the taps in order of rounded
    products (no fused multiply-add), vertical then horizontal; the statistic of
    `vif.vif_statistic` with libvmaf's double-precision log arguments; per-row sums in float32,
    left to right.
    """
    h, w = ref.shape
    n = taps.shape[0]
    half = n // 2
    pads = np.zeros((5, w + 2 * half), np.float32)
    maps = np.empty((5, w), np.float32)
    num_arg = np.empty(w, np.float32)
    den_arg = np.empty(w, np.float32)
    low = np.empty(w, np.bool_)
    low_num = np.empty(w, np.float32)
    num_log = np.empty(w, np.float32)
    den_log = np.empty(w, np.float32)
    mant = np.empty(w, np.float32)
    num_bits, den_bits, mant_bits = num_arg.view(np.int32), den_arg.view(np.int32), mant.view(np.int32)
    zero, one = np.float32(0.0), np.float32(1.0)
    nsq32, eps32, lim = np.float32(sigma_nsq), np.float32(eps), np.float32(limit)
    sigma_max_inv = np.float32(sigma_nsq * sigma_nsq / (255.0 * 255.0))
    p0, p1, p2, p3, p4 = pads[0, half:half + w], pads[1, half:half + w], pads[2, half:half + w], \
        pads[3, half:half + w], pads[4, half:half + w]
    off = np.float32(offset)
    for i in range(first, stop):
        pads[:, :] = 0.0  # libvmaf's accumulators start at 0
        for k in range(n):
            t = taps[k]
            r, d = ref[_mirror(i - half + k, h)], dis[_mirror(i - half + k, h)]
            for j in range(w):
                a, b = r[j] - off, d[j] - off
                p0[j] += t * a
                p1[j] += t * b
                p2[j] += t * (a * a)
                p3[j] += t * (b * b)
                p4[j] += t * (a * b)
        for c in range(5):
            _blur_row(pads[c], maps[c], taps, w)
        mu1, mu2, xx, yy, xy = maps[0], maps[1], maps[2], maps[3], maps[4]
        for j in range(w):
            m1, m2 = mu1[j], mu2[j]
            s1 = max(xx[j] - m1 * m1, zero)
            s2 = max(yy[j] - m2 * m2, zero)
            s12 = xy[j] - m1 * m2
            low[j] = s1 < nsq32  # there num = 1 - sigma2^2 sigma_max_inv, den = 1
            g = s12 / max(s1, nsq32)  # libvmaf's + eps is below float32 resolution where it counts
            sv = max(s2 - g * s12, eps32)
            q = min(g, lim) * min(g, lim) * s1 if (s2 >= eps32) & (g > zero) else zero
            num_arg[j] = np.float32(1.0 + np.float64(q) / (np.float64(sv) + sigma_nsq))
            den_arg[j] = np.float32(1.0 + np.float64(s1) / sigma_nsq)
            low_num[j] = one - s2 * sigma_max_inv
        _log2_row(num_arg, num_bits, num_log, mant, mant_bits)
        _log2_row(den_arg, den_bits, den_log, mant, mant_bits)
        rn, rd = zero, zero
        for j in range(w):
            rn += low_num[j] if low[j] else num_log[j]
            rd += one if low[j] else den_log[j]
        row_num[i] = rn
        row_den[i] = rd


@njit(**_JIT)
def _f32_total(rows) -> float:
    """Sum of float32 row sums in float32, in order (libvmaf's accumulator)."""
    total = np.float32(0.0)
    for i in range(rows.shape[0]):
        total += rows[i]
    return total


def _vif_scale0_band(ref: np.ndarray, dis: np.ndarray, limit: float, first: int, stop: int,
                     row_num: np.ndarray, row_den: np.ndarray) -> None:
    """Per-row (num, den) of VIF scale 0, rows first:stop of one frame's code values."""
    _vif_rows(ref, dis, 128.0, _VIF_TAPS[0], limit, vif.SIGMA_NSQ, vif.EPS, first, stop, row_num, row_den)


def _vif_coarse_scales(ref: np.ndarray, dis: np.ndarray, limit: float, num: np.ndarray, den: np.ndarray) -> None:
    """num[s], den[s] of VIF scales 1-3 of one frame's code values (downsampled from scale 0)."""
    r, d, offset = ref, dis, 128.0
    for scale in range(1, vif.NUM_SCALES):
        taps = _VIF_TAPS[scale]
        r, d, offset = _vif_downsample(r, offset, taps), _vif_downsample(d, offset, taps), 0.0
        row_num, row_den = np.empty(r.shape[0], np.float32), np.empty(r.shape[0], np.float32)
        _vif_rows(r, d, 0.0, taps, limit, vif.SIGMA_NSQ, vif.EPS, 0, r.shape[0], row_num, row_den)
        num[scale], den[scale] = _f32_total(row_num), _f32_total(row_den)


_VIF_TAPS = tuple(np.array(vif.vif_filter_taps(s), dtype=np.float32) for s in range(vif.NUM_SCALES))


# ----------------------------------------------------------------------------- ADM


@njit(inline="always", **_JIT)
def _dwt_edge(i: int, n: int) -> int:
    """libvmaf's DWT border: -1 -> 1, n -> n-1, n+1 -> n-2."""
    if i < 0:
        return -i
    if i >= n:
        return 2 * n - 1 - i
    return i


@njit(**_JIT)
def _dwt(x, offset: float, lo, hi):
    """One db2 DWT level of (x - offset), [h, w] -> bands [4, ceil(h/2), ceil(w/2)]: a, h, v, d.

    Every product rounded before it is added, in libvmaf's order (as `adm.dwt_bands`).
    """
    h, w = x.shape
    m, m2 = (h + 1) // 2, (w + 1) // 2
    out = np.empty((4, m, m2), np.float32)
    rows = np.empty((2, w + 3), np.float32)  # vertical low- and high-pass row, padded for the horizontal pass
    split = np.empty((2, 2, m2 + 1), np.float32)  # (lo, hi) x (even, odd) padded entries
    l0, l1, l2, l3 = lo[0], lo[1], lo[2], lo[3]
    h0, h1, h2, h3 = hi[0], hi[1], hi[2], hi[3]
    off = np.float32(offset)
    for i in range(m):
        x0, x1 = x[_dwt_edge(2 * i - 1, h)], x[_dwt_edge(2 * i, h)]
        x2, x3 = x[_dwt_edge(2 * i + 1, h)], x[_dwt_edge(2 * i + 2, h)]
        vl, vh = rows[0, 1:w + 1], rows[1, 1:w + 1]
        for j in range(w):
            a0, a1, a2, a3 = x0[j] - off, x1[j] - off, x2[j] - off, x3[j] - off
            vl[j] = l0 * a0 + l1 * a1 + l2 * a2 + l3 * a3
            vh[j] = h0 * a0 + h1 * a1 + h2 * a2 + h3 * a3
        for f in range(2):  # padded entry p holds column p - 1: -1 -> 1, w -> w-1, w+1 -> w-2
            row = rows[f]
            row[0] = row[2]
            row[w + 1] = row[w]
            row[w + 2] = row[w - 1]
            ev, od = split[f, 0], split[f, 1]
            for j in range(m2 + 1):
                ev[j] = row[2 * j]
                od[j] = row[2 * j + 1]
        for f in range(2):  # f: vertical filter; output bands (horizontal lo, vertical f), (hi, f)
            ev, od = split[f, 0], split[f, 1]
            band_lo, band_hi = out[f, i], out[2 + f, i]
            for j in range(m2):
                e0, o0, e1, o1 = ev[j], od[j], ev[j + 1], od[j + 1]
                band_lo[j] = l0 * e0 + l1 * o0 + l2 * e1 + l3 * o1
                band_hi[j] = h0 * e0 + h1 * o0 + h2 * e1 + h3 * o1
    return out


@njit(inline="always", **_JIT)
def _halo_index(i: int, n: int) -> int:
    """The pooling halo's border: -1 -> 1, n -> n-1."""
    if i < 0:
        return 1
    if i >= n:
        return n - 1
    return i


@njit(**_JIT)
def _crop(bands, top: int, bottom: int, left: int, right: int):
    """Detail bands (h, v, d) of bands [4, hb, wb] cut to the pooling region plus a 1-pixel halo."""
    hb, wb = bands.shape[1], bands.shape[2]
    rows, cols = bottom - top + 2, right - left + 2
    out = np.empty((3, rows, cols), np.float32)
    inside = left >= 1 and right <= wb - 1
    for c in range(3):
        for p in range(rows):
            src = bands[c + 1, _halo_index(top - 1 + p, hb)]
            dst = out[c, p]
            if inside:
                seg = src[left - 1:right + 1]
                for q in range(cols):
                    dst[q] = seg[q]
            else:
                for q in range(cols):
                    dst[q] = src[_halo_index(left - 1 + q, wb)]
    return out


@njit(**_JIT)
def _adm_scale(ref_bands, dis_bands, region, gain_limit: float, weights, num, den):
    """Cube totals of one ADM scale into num[3], den[3] (float64), as `adm._AdmScale`.

    Decoupling, CSF, the contrast-masking threshold from the additive part and the cube sums of
    the visible restored part (num) and of the CSF-weighted reference (den) per band.
    """
    top, bottom, left, right = region
    o_all = _crop(ref_bands, top, bottom, left, right)
    t_all = _crop(dis_bands, top, bottom, left, right)
    rows, cols = o_all.shape[1], o_all.shape[2]
    masking = np.empty((rows, cols), np.float32)  # sum over bands of |CSF-weighted additive part|
    gain = np.empty(cols, np.float32)
    restored = np.empty((3, rows, cols), np.float32)
    zero, one = np.float32(0.0), np.float32(1.0)
    cos_sq, lim = np.float32(adm.COS_1DEG_SQ), max(np.float32(gain_limit), one)
    for p in range(rows):
        o1, o2, t1, t2 = o_all[0, p], o_all[1, p], t_all[0, p], t_all[1, p]
        s = masking[p]
        for q in range(cols):  # libvmaf's 1-degree angle test on the (h, v) vectors
            a1, a2, b1, b2 = o1[q], o2[q], t1[q], t2[q]
            dot = a1 * b1 + a2 * b2
            o_mag = a1 * a1 + a2 * a2
            t_mag = b1 * b1 + b2 * b2
            gain[q] = lim if (dot >= zero) & (dot * dot >= cos_sq * o_mag * t_mag) else one
            s[q] = zero
        for c in range(3):
            oc, tc, rc, wt = o_all[c, p], t_all[c, p], restored[c, p], weights[c]
            for q in range(cols):
                o, t = oc[q], tc[q]
                bound = abs(o) * gain[q]
                r = min(max(t, -bound), bound) if o * t > zero else zero
                rc[q] = r
                s[q] += abs((t - r) * wt)
    num[:] = 0.0
    den[:] = 0.0
    threshold = np.empty(cols, np.float32)
    k30, k15 = np.float32(adm.ONE_BY_30), np.float32(adm.ONE_BY_15)
    centre = k15 - k30
    for p in range(1, rows - 1):
        up, mid, down = masking[p - 1], masking[p], masking[p + 1]
        for q in range(1, cols - 1):
            box = ((up[q - 1] + mid[q - 1]) + down[q - 1]) + ((up[q] + mid[q]) + down[q]) \
                + ((up[q + 1] + mid[q + 1]) + down[q + 1])
            threshold[q] = box * k30 + mid[q] * centre
        for c in range(3):
            oc, rc, wt = o_all[c, p], restored[c, p], weights[c]
            row_num, row_den = zero, zero
            for q in range(1, cols - 1):
                v = max(abs(rc[q] * wt) - threshold[q], zero)
                row_num += v * v * v
                co = abs(oc[q] * wt)
                row_den += co * co * co
            num[c] += row_num
            den[c] += row_den


_DB2 = (np.array(adm.DB2_LO, dtype=np.float32), np.array(adm.DB2_HI, dtype=np.float32))
_CSF = tuple(np.array(adm.csf_weights(s), dtype=np.float32) for s in range(adm.NUM_SCALES))


def _adm_frame(ref: np.ndarray, dis: np.ndarray, limit: float, num: np.ndarray, den: np.ndarray) -> None:
    """num, den [4 scales, 3 bands]: ADM cube totals of one frame's code values."""
    offset = 128.0
    for scale in range(adm.NUM_SCALES):
        ref_bands, dis_bands = _dwt(ref, offset, *_DB2), _dwt(dis, offset, *_DB2)
        region = adm.pooling_region(*ref_bands.shape[1:])
        _adm_scale(ref_bands, dis_bands, region, limit, _CSF[scale], num[scale], den[scale])
        ref, dis, offset = ref_bands[0], dis_bands[0], 0.0


# ----------------------------------------------------------------------- threads


# VIF scale 0 (about 60 % of the work) goes out in row bands, after the frame's other two tasks,
# so that two threads finish a single frame pair together
_SCALE0_BANDS = 3
_POOL: ThreadPoolExecutor | None = None
_POOL_KEY = (0, 0)  # (process id, workers) of _POOL: a forked child starts a pool of its own
_POOL_LOCK = threading.Lock()


def _run(tasks: list[Callable[[], None]]) -> None:
    """Run the tasks on torch.get_num_threads() threads (inline for one)."""
    global _POOL, _POOL_KEY
    workers = min(torch.get_num_threads(), len(tasks))
    if workers <= 1:
        for task in tasks:
            task()
        return
    with _POOL_LOCK:
        if _POOL is None or _POOL_KEY[0] != os.getpid() or _POOL_KEY[1] < workers:
            _POOL = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="filteropt-vmaf")
            _POOL_KEY = (os.getpid(), workers)
        pool = _POOL
    for future in [pool.submit(task) for task in tasks]:
        future.result()


def frame_sums(ref: torch.Tensor, dis: torch.Tensor, adm_enhn_gain_limit: float,
               vif_enhn_gain_limit: float) -> tuple[torch.Tensor, ...]:
    """VIF (num, den) [N, 4] and ADM cube totals (num, den) [N, 4, 3], float64, of float32 CPU frames.

    ref, dis: [N, 1, H, W] on the 8-bit scale.
    """
    r = ref.detach()[:, 0].contiguous().numpy()
    d = dis.detach()[:, 0].contiguous().numpy()
    n, h = r.shape[0], r.shape[1]
    vif_num, vif_den = np.zeros((n, vif.NUM_SCALES)), np.zeros((n, vif.NUM_SCALES))
    bands = np.linspace(0, h, _SCALE0_BANDS + 1).astype(int)
    scale0 = np.zeros((n, 2, h), np.float32)  # VIF scale 0 per row: (num, den)
    adm_num, adm_den = np.zeros((n, adm.NUM_SCALES, 3)), np.zeros((n, adm.NUM_SCALES, 3))
    tasks: list[Callable[[], None]] = []
    for i in range(n):  # each task writes its own rows of the arrays above
        tasks.append(partial(_vif_coarse_scales, r[i], d[i], vif_enhn_gain_limit, vif_num[i], vif_den[i]))
        tasks.append(partial(_adm_frame, r[i], d[i], adm_enhn_gain_limit, adm_num[i], adm_den[i]))
        tasks += [partial(_vif_scale0_band, r[i], d[i], vif_enhn_gain_limit, int(bands[b]), int(bands[b + 1]),
                          scale0[i, 0], scale0[i, 1]) for b in range(_SCALE0_BANDS)]
    _run(tasks)
    for i in range(n):
        vif_num[i, 0], vif_den[i, 0] = _f32_total(scale0[i, 0]), _f32_total(scale0[i, 1])
    return tuple(torch.from_numpy(a) for a in (vif_num, vif_den, adm_num, adm_den))
