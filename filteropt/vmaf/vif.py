"""libvmaf's float VIF feature (`float_vif`): vif_scale0..3, differentiable.

Per scale s = 0..3, on pixels offset by -128: for s > 0 the previous scale's frames are blurred
with scale s's Gaussian and every second row and column is kept (rows/cols 0, 2, ..., floor(n/2)
of them); then ref, dis, ref^2, dis^2 and ref*dis are blurred with the same Gaussian (mirrored
borders without repeating the edge pixel, i.e. torch's "reflect"), giving local means, variances
and covariance, and libvmaf's per-pixel information statistic is summed per frame into num and
den.  vif_scaleS = num / den, clamped at 0 for s > 0 (libvmaf's default min value).

Speed and memory: each 1-D blur is a banded matrix product (the mirror borders folded into the
band) done block by block, the equal interior blocks as one batched matmul; each scale is
processed in equal row chunks of up to 16 MiB (moments, both blur passes and the statistic one
chunk at a time) with a hand-written backward, so autograd keeps only the five blurred maps of
each scale and no buffer is above glibc's 32 MiB limit for reusing freed memory (larger ones are
freshly mapped, and page-faulted, on every call).
"""

from __future__ import annotations

import functools
import math
import struct

import numpy as np
import torch
from torch.autograd.function import once_differentiable

from filteropt.vmaf.masks import float_mask

NUM_SCALES = 4
SIGMA_NSQ = 2.0
DEFAULT_ENHN_GAIN_LIMIT = 100.0
# smallest frame side libvmaf handles without reading outside the frame: the scale-3 frame
# (side // 8) must be >= 2 pixels for its 3-tap mirror to stay inside
MIN_SIZE = 16
_ROW_BLOCK = 8  # rows per block of the vertical banded products
_COL_BLOCK = 32  # columns per block of the horizontal banded products
_CHUNK_ELEMS = 1 << 22  # elements (all five maps) per row chunk of a scale, 16 MiB in float32


def _f32(x: float) -> float:
    """Round a Python float to the nearest float32 value (libvmaf keeps these constants as float)."""
    return struct.unpack("f", struct.pack("f", x))[0]


EPS = _f32(1e-10)


def vif_filter_size(scale: int) -> int:
    """Taps of scale `scale`'s Gaussian: 17, 9, 5, 3."""
    return (1 << (4 - scale)) + 1


@functools.lru_cache(maxsize=None)
def vif_filter_taps(scale: int) -> tuple[float, ...]:
    """libvmaf's 1-D Gaussian of a scale: sigma = size / 5, normalised, computed in float32 as libvmaf."""
    size = vif_filter_size(scale)
    stdev = np.float32(size / 5.0)
    half = size // 2
    den = np.float32(1.0 / (float(stdev) * math.sqrt(2.0 * math.pi)))
    taps = []
    for i in range(size):
        x = float(i - half)
        num = np.float32(math.exp(-0.5 * x / float(stdev) * x / float(stdev)))
        taps.append(np.float32(num / den))
    total = np.float32(0.0)
    for t in taps:
        total = np.float32(total + t)
    return tuple(float(np.float32(t / total)) for t in taps)


def _mirror(idx: np.ndarray, n: int) -> np.ndarray:
    """libvmaf's border mirror: -i below 0, 2n-2-i from n on (edge pixel not repeated)."""
    idx = np.where(idx < 0, -idx, idx)
    return np.where(idx >= n, 2 * n - 2 - idx, idx)


@functools.lru_cache(maxsize=64)
def _band_entries(n: int, scale: int, stride: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(output index, input index, weight) of the mirrored 1-D blur of length-n input, decimated by stride."""
    taps = np.asarray(vif_filter_taps(scale), dtype=np.float64)
    half = len(taps) // 2
    if n <= half:
        raise ValueError(f"VIF scale {scale} needs at least {half + 1} pixels per side, got {n}")
    n_out = n if stride == 1 else n // stride
    rows = np.repeat(np.arange(n_out), len(taps))
    cols = _mirror((stride * np.arange(n_out))[:, None] + np.arange(len(taps))[None, :] - half, n).ravel()
    return rows, cols, np.tile(taps, n_out)


def vif_filter_matrix(n: int, scale: int, stride: int = 1, dtype: torch.dtype = torch.float64,
                      device: torch.device | str | None = None) -> torch.Tensor:
    """Dense [n_out, n] matrix of the mirrored 1-D blur of a scale; stride 2 keeps outputs 0, 2, ...

    n_out is n for stride 1 and n // 2 for stride 2 (libvmaf's decimation).
    """
    rows, cols, vals = _band_entries(n, scale, stride)
    mat = np.zeros((n if stride == 1 else n // stride, n))
    np.add.at(mat, (rows, cols), vals)
    return torch.tensor(mat, dtype=dtype, device=device)


@functools.lru_cache(maxsize=256)
def _band_blocks(n: int, scale: int, stride: int, transpose: bool, block_rows: int, dtype: torch.dtype,
                 device: torch.device) -> tuple[tuple[int, int, int, int, torch.Tensor, torch.Tensor], ...]:
    """Row blocks (a, b, c0, c1, M[a:b, c0:c1], its transpose) of the filter matrix M (or of M.T)."""
    rows, cols, vals = _band_entries(n, scale, stride)
    n_rows = rows[-1] + 1
    if transpose:
        rows, cols, n_rows = cols, rows, n
    order = np.argsort(rows, kind="stable")
    rows, cols, vals = rows[order], cols[order], vals[order]
    starts = np.searchsorted(rows, np.arange(0, n_rows + block_rows, block_rows))
    blocks = []
    for k, a in enumerate(range(0, n_rows, block_rows)):
        b = min(a + block_rows, n_rows)
        r, c, v = rows[starts[k]:starts[k + 1]], cols[starts[k]:starts[k + 1]], vals[starts[k]:starts[k + 1]]
        c0, c1 = (int(c.min()), int(c.max()) + 1) if len(c) else (0, 0)  # empty: input unused (odd end)
        mat = np.zeros((b - a, c1 - c0))
        np.add.at(mat, (r - a, c - c0), v)
        block = torch.tensor(mat, dtype=dtype, device=device)
        blocks.append((a, b, c0, c1, block, block.t().contiguous()))
    return tuple(blocks)


# a run of equal, evenly spaced blocks: (first output index a, count, outputs per block, first
# input index c0, input step between blocks, block, its transpose); applied as one batched matmul
Run = tuple[int, int, int, int, int, torch.Tensor, torch.Tensor]


@functools.lru_cache(maxsize=512)
def _band_runs(n: int, scale: int, stride: int, transpose: bool, block_rows: int, dtype: torch.dtype,
               device: torch.device, first: int = 0, stop: int | None = None) -> tuple[Run, ...]:
    """Blocks first:stop of `_band_blocks` merged into runs of equal, evenly spaced blocks.

    Away from the borders every block of the banded matrix is the same, so most of a pass is
    one batched matmul over overlapping views of its input instead of one matmul per block.
    """
    runs: list[Run] = []
    for a, b, c0, c1, block, block_t in _band_blocks(n, scale, stride, transpose, block_rows, dtype, device)[first:stop]:
        if runs:
            ra, count, rows, rc0, step, rblock, rblock_t = runs[-1]
            next_step = c0 - rc0 if count == 1 else step
            if (b - a == rows and a == ra + count * rows and c0 == rc0 + count * next_step
                    and block.shape == rblock.shape and torch.equal(block, rblock)):
                runs[-1] = (ra, count + 1, rows, rc0, next_step, rblock, rblock_t)
                continue
        runs.append((a, 1, b - a, c0, 0, block, block_t))
    return tuple(runs)


def _vertical_runs(runs: tuple[Run, ...], x: torch.Tensor, out: torch.Tensor, in0: int = 0, out0: int = 0) -> None:
    """out rows (a - out0 ...) = blocks @ x rows (c0 - in0 ...) for each run; x, out contiguous 2-D."""
    cols = x.shape[1]
    for a, count, rows, c0, step, block, _ in runs:
        k = block.shape[1]
        dst = out[a - out0:a - out0 + count * rows]
        if count == 1:
            torch.mm(block, x[c0 - in0:c0 - in0 + k], out=dst)
        else:
            src = x.as_strided((count, k, cols), (step * cols, cols, 1), x.storage_offset() + (c0 - in0) * cols)
            torch.matmul(block.expand(count, -1, -1), src, out=dst.view(count, rows, cols))


def _horizontal_runs(runs: tuple[Run, ...], x: torch.Tensor, out: torch.Tensor) -> None:
    """out columns a ... = x columns c0 ... @ block.T for each run; x, out 2-D with unit column stride."""
    r = x.shape[0]
    for a, count, cols, c0, step, _, block_t in runs:
        k = block_t.shape[0]
        if count == 1:
            torch.mm(x[:, c0:c0 + k], block_t, out=out[:, a:a + cols])
        else:
            src = x.as_strided((count, r, k), (step, x.stride(0), 1), x.storage_offset() + c0)
            dst = out.as_strided((count, r, cols), (cols, out.stride(0), 1), out.storage_offset() + a)
            torch.matmul(src, block_t.expand(count, -1, -1), out=dst)


def _band_apply(x: torch.Tensor, n: int, scale: int, stride: int, axis: int, transpose: bool,
                out: torch.Tensor | None = None) -> torch.Tensor:
    """Multiply axis `axis` (0 or -1) of x by the filter matrix of length-n input (or its transpose).

    `out` (contiguous, not overlapping x) receives the result when given.
    """
    x = x.contiguous()
    block_rows = _ROW_BLOCK if axis == 0 else _COL_BLOCK
    runs = _band_runs(n, scale, stride, transpose, block_rows, x.dtype, x.device)
    n_out = runs[-1][0] + runs[-1][1] * runs[-1][2]
    if axis == 0:
        if out is None:
            out = x.new_empty((n_out,) + tuple(x.shape[1:]))
        _vertical_runs(runs, x.reshape(x.shape[0], -1), out.view(n_out, -1))
    else:
        if out is None:
            out = x.new_empty(tuple(x.shape[:-1]) + (n_out,))
        _horizontal_runs(runs, x.reshape(-1, x.shape[-1]), out.view(-1, n_out))
    return out


class _BandFilter(torch.autograd.Function):
    """Linear mirrored 1-D blur (optionally decimating) along axis 0 or -1; backward is the transpose."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, scale: int, stride: int, axis: int) -> torch.Tensor:
        n = x.shape[axis]
        ctx.cfg = (n, scale, stride, axis)
        return _band_apply(x, n, scale, stride, axis, transpose=False)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: torch.Tensor):
        n, scale, stride, axis = ctx.cfg
        return _band_apply(grad, n, scale, stride, axis, transpose=True), None, None, None


def _blur_hw(x: torch.Tensor, scale: int, stride: int) -> torch.Tensor:
    """Blur a [H, ..., W] tensor vertically then horizontally (libvmaf's order)."""
    return _BandFilter.apply(_BandFilter.apply(x, scale, stride, 0), scale, stride, -1)


def _check_size(h: int, w: int) -> None:
    if h < MIN_SIZE or w < MIN_SIZE:
        raise ValueError(f"VIF needs frames of at least {MIN_SIZE}x{MIN_SIZE}, got {w}x{h}")


def vif_blur(x: torch.Tensor, scale: int) -> torch.Tensor:
    """Blur [N,C,H,W] with scale `scale`'s Gaussian and libvmaf's mirrored borders; same shape."""
    y = _blur_hw(x.permute(2, 0, 1, 3), scale, 1)
    return y.permute(1, 2, 0, 3)


def vif_downsample(x: torch.Tensor, scale: int) -> torch.Tensor:
    """Input of scale `scale` (>= 1) from the previous scale's [N,C,H,W]: blur, keep even rows/cols.

    Output is [N, C, H // 2, W // 2] (an odd last row/column is dropped).
    """
    y = _blur_hw(x.permute(2, 0, 1, 3), scale, 2)
    return y.permute(1, 2, 0, 3)


def vif_statistic(mu1: torch.Tensor, mu2: torch.Tensor, xx: torch.Tensor, yy: torch.Tensor, xy: torch.Tensor,
                  enhn_gain_limit: float = DEFAULT_ENHN_GAIN_LIMIT,
                  sigma_nsq: float = SIGMA_NSQ) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-pixel (num, den) of libvmaf's VIF from blurred ref, dis, ref^2, dis^2, ref*dis.

    sigma1^2, sigma2^2 are clamped at 0; where sigma1^2 < sigma_nsq: num = 1 - sigma2^2 * sigma_nsq^2 / 255^2
    and den = 1; else den = log2(1 + sigma1^2 / sigma_nsq) and, when sigma12 >= 0 and sigma2^2 >= eps,
    num = log2(1 + g^2 sigma1^2 / (sv^2 + sigma_nsq)) with g = sigma12 / (sigma1^2 + eps) (capped at
    the gain limit) and sv^2 = max(sigma2^2 - g sigma12, eps) (uncapped g); num = 0 otherwise.
    """
    sigma_max_inv = _f32(sigma_nsq**2 / (255.0 * 255.0))
    s1 = (xx - mu1 * mu1).clamp_min(0.0)
    s2 = (yy - mu2 * mu2).clamp_min(0.0)
    s12 = xy - mu1 * mu2
    low = s1 < sigma_nsq
    s1_safe = torch.where(low, torch.full_like(s1, sigma_nsq), s1)  # keeps masked-out gradients finite
    g0 = s12 / (s1_safe + EPS)
    sv = (s2 - g0 * s12).clamp_min(EPS)
    g = g0.clamp_max(enhn_gain_limit)
    num_hi = torch.log2(1.0 + g * g * s1_safe / (sv + sigma_nsq))
    num_hi = torch.where((s12 >= 0) & (s2 >= EPS), num_hi, torch.zeros_like(num_hi))
    num = torch.where(low, 1.0 - s2 * sigma_max_inv, num_hi)
    den = torch.where(low, torch.ones_like(s1), torch.log2(1.0 + s1_safe / sigma_nsq))
    return num, den


def _frame_sums(x: torch.Tensor) -> torch.Tensor:
    """Per-frame sums of [S, N, W]: rows summed in x's dtype (like libvmaf), rows and frames in float64."""
    return x.sum(dim=2).sum(dim=0, dtype=torch.float64)


def _stat_sums(maps: torch.Tensor, limit: float, sigma_nsq: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-frame sums of vif_statistic's (num, den) over blurred maps [S, N, 5, W] (no autograd).

    Same values as vif_statistic; eps is dropped from g = sigma12 / (sigma1^2 + eps) where it is
    below float32 resolution (sigma1^2 >= sigma_nsq there).
    """
    sigma_max_inv = _f32(sigma_nsq**2 / (255.0 * 255.0))
    mu1, mu2, xx, yy, xy = maps.unbind(2)
    s1 = torch.addcmul(xx, mu1, mu1, value=-1.0)
    s2 = torch.addcmul(yy, mu2, mu2, value=-1.0).clamp_min_(0.0)
    s12 = torch.addcmul(xy, mu1, mu2, value=-1.0)
    low = float_mask(torch.lt, s1, sigma_nsq)
    s1.clamp_min_(sigma_nsq)  # sigma1^2 where it matters, sigma_nsq elsewhere
    g = s12 / s1
    sv = torch.addcmul(s2, g, s12, value=-1.0).clamp_min_(EPS).add_(sigma_nsq)
    keep = float_mask(torch.ge, s2, EPS).sub_(low).clamp_min_(0.0)  # num = 0 where sigma2^2 < eps, other rule if low
    q = g.clamp_(0.0, limit).square_().mul_(keep).mul_(s1).div_(sv)  # g = 0 where sigma12 < 0
    num = q.add_(1.0).log2_().addcmul_(low, s2.mul_(-sigma_max_inv).add_(1.0))
    den = s1.div_(sigma_nsq).add_(1.0).log2_()  # exactly 1 where sigma1^2 < sigma_nsq
    return _frame_sums(num), _frame_sums(den)


def _stat_grad(maps: torch.Tensor, gn: torch.Tensor, gd: torch.Tensor, limit: float, sigma_nsq: float,
               out: torch.Tensor, chans: tuple[int, ...]) -> None:
    """d(gn * sum num + gd * sum den) / d(maps) for blurred maps [S, N, 5, W], channels `chans` into out.

    Channels are 0 mu1, 1 mu2, 2 ref^2, 3 dis^2, 4 ref*dis; out is [S, N, len(chans), W] (may alias
    maps when chans is all five).  Where s1 >= sigma_nsq, with g0 = s12 / s1, g = min(g0, limit),
    sv = max(s2 - g0 s12, eps), P = 1 / (sv + sigma_nsq) and q = g^2 s1 P: num = log2(1 + q),
    den = log2(1 + s1 / sigma_nsq), dq/ds1 = g^2 P - [g0 <= limit] 2 g g0 P - [sv >= eps] q P g0^2,
    dq/ds12 = 2 ([g0 <= limit] g P + [sv >= eps] q P g0), dq/ds2 = -[sv >= eps] q P.
    Where s1 < sigma_nsq only num = 1 - s2 * sigma_max_inv varies.  At the kinks of the clamps the
    one-sided derivative torch.clamp would give is used, so this matches autograd of vif_statistic.
    """
    sigma_max_inv = _f32(sigma_nsq**2 / (255.0 * 255.0))
    inv_ln2 = 1.0 / math.log(2.0)
    mu1, mu2, xx, yy, xy = maps.unbind(2)
    o = dict(zip(chans, out.unbind(2)))
    need_ref, need_dis = 0 in o, 1 in o
    s1 = torch.addcmul(xx, mu1, mu1, value=-1.0)
    s2 = torch.addcmul(yy, mu2, mu2, value=-1.0)
    s12 = torch.addcmul(xy, mu1, mu2, value=-1.0)
    low = float_mask(torch.lt, s1, sigma_nsq)
    low_s2 = float_mask(torch.ge, s2, 0.0).mul_(low) if need_dis else None  # num = 1 - s2 sigma_max_inv varies
    s1.clamp_min_(sigma_nsq)
    s2.clamp_min_(0.0)
    g0 = s12 / s1
    keep = float_mask(torch.ge, s2, EPS).sub_(low).clamp_min_(0.0)  # where num = log2(1 + q) varies
    sv0 = torch.addcmul(s2, g0, s12, value=-1.0)
    sv_live = float_mask(torch.ge, sv0, EPS)
    inv_p = sv0.clamp_min_(EPS).add_(sigma_nsq).reciprocal_()  # P
    g = g0.clamp(0.0, limit).mul_(keep)  # 0 where num is constant (incl. sigma12 < 0)
    g_p = g * inv_p
    gg_p = g * g_p
    q = gg_p * s1
    dlog = (q + 1.0).reciprocal_().mul_(gn * inv_ln2)  # gn * d num / d q
    q_p = q.mul_(inv_p).mul_(sv_live)  # [sv live] q P
    u = g_p.mul_(float_mask(torch.le, g0, limit))  # [g live] g P
    z = q_p * g0
    a12 = torch.add(u, z, out=o[4]).mul_(dlog).mul_(2.0)  # d / d s12
    if need_ref:  # d / d s1: g^2 P - g0 (2 u + z), and den's gd / (ln2 (sigma_nsq + s1)) where not low
        a1 = torch.sub(gg_p, u.mul_(2.0).add_(z).mul_(g0), out=o[2]).mul_(dlog)
        a1.addcmul_((s1 + sigma_nsq).reciprocal_().mul_(gd * inv_ln2), low.neg_().add_(1.0))
        grad_mu1 = torch.mul(mu2, a12).addcmul_(mu1, a1, value=2.0)  # s1 = xx - mu1^2, s12 = xy - mu1 mu2
    if need_dis:  # d / d s2
        a2 = torch.mul(dlog, q_p, out=o[3]).neg_().addcmul_(low_s2, gn * -sigma_max_inv)
        grad_mu2 = torch.mul(mu1, a12).addcmul_(mu2, a2, value=2.0)  # s2 = yy - mu2^2
    if need_ref:  # written last: out may alias mu1, mu2
        torch.neg(grad_mu1, out=o[0])
    if need_dis:
        torch.neg(grad_mu2, out=o[1])


@functools.lru_cache(maxsize=64)
def _row_chunks(h: int, scale: int, row_elems: int, block_rows: int,
                chunk_elems: int) -> tuple[tuple[int, int, int, int, range], ...]:
    """Row chunks (a, b, c0, c1, vertical block ids) of a scale: output rows a:b need input rows c0:c1."""
    blocks = _band_blocks(h, scale, 1, False, block_rows, torch.float64, torch.device("cpu"))
    per_chunk = max(1, chunk_elems // (block_rows * max(1, row_elems)))
    # chunks of equal size: the allocator then reuses their buffers instead of mapping fresh memory
    per_chunk = math.ceil(len(blocks) / math.ceil(len(blocks) / per_chunk))
    chunks = []
    for first in range(0, len(blocks), per_chunk):
        ids = range(first, min(first + per_chunk, len(blocks)))
        sel = [blocks[i] for i in ids]
        chunks.append((sel[0][0], sel[-1][1], min(x[2] for x in sel), max(x[3] for x in sel), ids))
    return tuple(chunks)


def _chunk_maps(ref: torch.Tensor, dis: torch.Tensor, scale: int, chunk: tuple) -> torch.Tensor:
    """Blurred ref, dis, ref^2, dis^2, ref*dis for output rows a:b of [H, N, W] frames: [b-a, N, 5, W]."""
    h, n, w = ref.shape
    a, b, c0, c1, ids = chunk
    vruns = _band_runs(h, scale, 1, False, _ROW_BLOCK, ref.dtype, ref.device, ids.start, ids.stop)
    hruns = _band_runs(w, scale, 1, False, _COL_BLOCK, ref.dtype, ref.device)
    r, d = ref[c0:c1], dis[c0:c1]
    moments = ref.new_empty((c1 - c0, n, 5, w))
    moments[:, :, 0] = r
    moments[:, :, 1] = d
    torch.mul(r, r, out=moments[:, :, 2])
    torch.mul(d, d, out=moments[:, :, 3])
    torch.mul(r, d, out=moments[:, :, 4])
    vertical = ref.new_empty((b - a, n, 5, w))
    _vertical_runs(vruns, moments.view(c1 - c0, -1), vertical.view(b - a, -1), in0=c0, out0=a)
    maps = moments[:b - a]  # reuse the moments' storage for the result
    _horizontal_runs(hruns, vertical.view(-1, w), maps.view(-1, w))
    return maps


def _chunk_backward(maps: torch.Tensor, ref: torch.Tensor, dis: torch.Tensor, scale: int, chunk: tuple,
                    gn: torch.Tensor, gd: torch.Tensor, limit: float, sigma_nsq: float,
                    grad_ref: torch.Tensor | None, grad_dis: torch.Tensor | None) -> None:
    """Add one chunk's contribution to grad_ref / grad_dis ([H, N, W]); overwrites maps."""
    h, n, w = ref.shape
    a, b, c0, c1, ids = chunk
    # channels: 0 ref, 1 dis, 2 ref^2, 3 dis^2, 4 ref*dis
    chans = tuple(c for c, used in enumerate((grad_ref is not None, grad_dis is not None) * 2 + (True,)) if used)
    grad = maps if len(chans) == 5 else maps.new_empty(maps.shape[:2] + (len(chans),) + maps.shape[3:])
    _stat_grad(maps, gn, gd, limit, sigma_nsq, out=grad, chans=chans)  # d loss / d maps
    back_h = _band_apply(grad, w, scale, 1, -1, True)  # transpose of the horizontal pass
    # transpose of the vertical pass, rows c0:c1
    if (a, b, c0, c1) == (0, h, 0, h):  # the whole frame: the transposed matrix, batched like the forward
        back = _band_apply(back_h, h, scale, 1, 0, True)
    else:  # a band of rows: each block's transpose adds into the rows it read
        back = ref.new_zeros((c1 - c0, n, len(chans), w))
        vblocks = _band_blocks(h, scale, 1, False, _ROW_BLOCK, ref.dtype, ref.device)
        bh2, bv2 = back_h.view(b - a, -1), back.view(c1 - c0, -1)
        for i in ids:
            ba, bb, bc0, bc1, block, _ = vblocks[i]
            bv2[bc0 - c0:bc1 - c0].addmm_(block.t(), bh2[ba - a:bb - a])
    g = dict(zip(chans, back.unbind(2)))
    r, d = ref[c0:c1], dis[c0:c1]
    if grad_ref is not None:
        grad_ref[c0:c1] += torch.addcmul(g[0], r, g[2], value=2.0).addcmul_(d, g[4])
    if grad_dis is not None:
        grad_dis[c0:c1] += torch.addcmul(g[1], d, g[3], value=2.0).addcmul_(r, g[4])


class _VifScale(torch.autograd.Function):
    """Per-frame (num, den) sums of one scale from its [H, N, W] ref and dis frames.

    Works in row chunks; keeps the chunks' blurred maps for backward, which overwrites them with
    their gradient (recomputing them if the graph is run backward a second time).
    """

    @staticmethod
    def forward(ctx, ref: torch.Tensor, dis: torch.Tensor, scale: int, enhn_gain_limit: float, sigma_nsq: float):
        h, n, w = ref.shape
        keep = any(ctx.needs_input_grad[:2])
        num = torch.zeros(n, dtype=torch.float64, device=ref.device)
        den = torch.zeros(n, dtype=torch.float64, device=ref.device)
        kept = []
        for chunk in _row_chunks(h, scale, 5 * n * w, _ROW_BLOCK, _CHUNK_ELEMS):
            maps = _chunk_maps(ref, dis, scale, chunk)
            num_part, den_part = _stat_sums(maps, enhn_gain_limit, sigma_nsq)
            num += num_part
            den += den_part
            if keep:
                kept.append(maps)
        if keep:
            ctx.save_for_backward(ref, dis)
            ctx.kept = kept
        ctx.cfg = (scale, enhn_gain_limit, sigma_nsq)
        return num, den

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_num: torch.Tensor, grad_den: torch.Tensor):
        ref, dis = ctx.saved_tensors
        scale, limit, sigma_nsq = ctx.cfg
        kept = getattr(ctx, "kept", None)
        ctx.kept = None  # consumed: a second backward recomputes
        h, n, w = ref.shape
        gn = grad_num.to(ref.dtype).view(1, n, 1)
        gd = grad_den.to(ref.dtype).view(1, n, 1)
        grad_ref = torch.zeros_like(ref) if ctx.needs_input_grad[0] else None
        grad_dis = torch.zeros_like(dis) if ctx.needs_input_grad[1] else None
        for k, chunk in enumerate(_row_chunks(h, scale, 5 * n * w, _ROW_BLOCK, _CHUNK_ELEMS)):
            maps = kept[k] if kept is not None else _chunk_maps(ref, dis, scale, chunk)
            if kept is not None:
                kept[k] = None
            _chunk_backward(maps, ref, dis, scale, chunk, gn, gd, limit, sigma_nsq, grad_ref, grad_dis)
            del maps
        return grad_ref, grad_dis, None, None, None


def vif_num_den(ref: torch.Tensor, dis: torch.Tensor, enhn_gain_limit: float = DEFAULT_ENHN_GAIN_LIMIT,
                sigma_nsq: float = SIGMA_NSQ) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-frame, per-scale VIF numerator and denominator sums, float64 tensors [N, 4]."""
    if ref.shape != dis.shape or ref.dim() != 4 or ref.shape[1] != 1:
        raise ValueError(f"expected ref and dis of equal shape [N,1,H,W], got {tuple(ref.shape)}, {tuple(dis.shape)}")
    _check_size(ref.shape[-2], ref.shape[-1])
    ref_s = (ref[:, 0] - 128.0).permute(1, 0, 2).contiguous()  # [H, N, W]
    dis_s = (dis[:, 0] - 128.0).permute(1, 0, 2).contiguous()
    nums, dens = [], []
    for scale in range(NUM_SCALES):
        if scale > 0:
            ref_s = _blur_hw(ref_s, scale, 2)
            dis_s = _blur_hw(dis_s, scale, 2)
        num, den = _VifScale.apply(ref_s, dis_s, scale, enhn_gain_limit, sigma_nsq)
        nums.append(num)
        dens.append(den)
    return torch.stack(nums, dim=1), torch.stack(dens, dim=1)


def vif_features(ref: torch.Tensor, dis: torch.Tensor,
                 enhn_gain_limit: float = DEFAULT_ENHN_GAIN_LIMIT) -> dict[str, torch.Tensor]:
    """libvmaf float_vif of [N,1,H,W] frames (0..255 scale): {'vif_scale0'..'vif_scale3': [N]}.

    enhn_gain_limit is 100 for the standard models and 1.0 for the NEG ones.
    """
    num, den = vif_num_den(ref, dis, enhn_gain_limit)
    return vif_features_from_sums(num, den, ref.dtype)


def vif_features_from_sums(num: torch.Tensor, den: torch.Tensor, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """{'vif_scale0'..'vif_scale3': [N]} in dtype from per-frame, per-scale sums num, den [N, 4]."""
    ratio = num / den
    ratio = torch.cat([ratio[:, :1], ratio[:, 1:].clamp_min(0.0)], dim=1).to(dtype)
    return {f"vif_scale{s}": ratio[:, s] for s in range(NUM_SCALES)}
