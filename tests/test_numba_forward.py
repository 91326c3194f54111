"""The compiled forward pass (numba) against the PyTorch path; both are checked against libvmaf elsewhere."""

from __future__ import annotations

import os
import signal
import time

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from filteropt.datasets.sample import pan_clip
from filteropt.vmaf import VMAF, adm
from filteropt.vmaf.numba_forward import _DB2, _dwt, _log2_row, frame_sums
from filteropt.vmaf.vmaf import NUMBA_ENV, uses_numba


def _sharpened_noisy(ref: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """A distorted copy: unsharp-style sharpening (VMAF above 100) plus noise, rounded to codes."""
    gen = torch.Generator().manual_seed(seed)
    blurred = F.avg_pool2d(F.pad(ref, (1, 1, 1, 1), mode="replicate"), 3, 1)
    dis = ref + 1.5 * (ref - blurred) + 2.0 * torch.randn(ref.shape, generator=gen)
    return dis.clamp(0, 255).round()


# (photo, width, height, frames, model): odd sizes, the smallest frame, the NEG gain limits; the
# 161x91 sharpened frames score above 100 unclipped (the enhancement-gain branches are taken)
CASES = [
    ("astronaut", 161, 91, 3, "vmaf_v0.6.1"),
    ("coffee", 161, 91, 2, "vmaf_v0.6.1neg"),
    ("chelsea", 17, 17, 2, "vmaf_v0.6.1"),
    ("rocket", 40, 33, 1, "vmaf_v0.6.1"),
    ("astronaut", 576, 324, 1, "vmaf_v0.6.1"),
]


@pytest.mark.parametrize("photo,width,height,frames,model", CASES)
def test_compiled_forward_matches_pytorch_path(monkeypatch, photo, width, height, frames, model):
    ref = pan_clip(photo, width, height, frames, velocity=(0.5, -0.3))
    dis = _sharpened_noisy(ref)
    metric = VMAF(model)
    with torch.no_grad():
        assert uses_numba(ref, dis)
        fast = metric(ref, dis)
        monkeypatch.setenv(NUMBA_ENV, "0")
        assert not uses_numba(ref, dis)
        slow = metric(ref, dis)
    assert fast.features.keys() == slow.features.keys()
    for name, value in fast.features.items():
        # float32 rounding of differently ordered blur sums, grown by the variances' cancellation
        # (up to 7e-6 seen on VIF); an error in a rule of the statistic or a border moves them far more
        assert (value - slow.features[name]).abs().max() < 2e-5, name
    assert (fast.scores - slow.scores).abs().max() < 1e-3


def test_flat_reference(monkeypatch):
    """Where the reference is flat (sigma1^2 < sigma_nsq), VIF's num is 1 - sigma2^2 sigma_nsq^2 / 255^2."""
    ramp = torch.linspace(100.0, 110.0, 96).view(1, 1, 1, 96).expand(2, 1, 64, 96).round()
    dis = (ramp + 3.0 * torch.randn(ramp.shape, generator=torch.Generator().manual_seed(3))).round()
    metric = VMAF()
    with torch.no_grad():
        fast = metric(ramp.contiguous(), dis).features
        monkeypatch.setenv(NUMBA_ENV, "0")
        slow = metric(ramp.contiguous(), dis).features
    for name, value in fast.items():
        assert (value - slow[name]).abs().max() < 2e-5, name


def test_ten_bit_frames(small_clip10):
    ref = small_clip10
    dis = (ref + 8.0 * torch.randn(ref.shape, generator=torch.Generator().manual_seed(1))).clamp(0, 1023).round()
    metric = VMAF(bit_depth=10)
    with torch.no_grad():
        fast = metric(ref, dis).features
    slow = metric(ref.double(), dis.double()).features  # float64 takes the PyTorch path
    for name, value in fast.items():
        assert (value.double() - slow[name]).abs().max() < 2e-5, name


def test_one_thread_gives_the_same_numbers(small_clip):
    dis = _sharpened_noisy(small_clip)
    threads = torch.get_num_threads()
    with torch.no_grad():
        try:
            torch.set_num_threads(1)
            inline = VMAF()(small_clip, dis).features
        finally:
            torch.set_num_threads(threads)
        pooled = VMAF()(small_clip, dis).features
    for name, value in inline.items():
        assert torch.equal(value, pooled[name]), name


def test_gradients_and_other_dtypes_take_the_pytorch_path(small_clip):
    ref, dis = small_clip, _sharpened_noisy(small_clip)
    assert uses_numba(ref, dis)
    assert not uses_numba(ref, dis.clone().requires_grad_(True))
    assert not uses_numba(ref.double(), dis.double())
    assert not uses_numba(ref, dis, mode="exact")
    with torch.no_grad():
        assert uses_numba(ref, dis.clone().requires_grad_(True))
    d = dis.clone().requires_grad_(True)
    scores = VMAF()(ref, d).scores
    scores.sum().backward()
    assert d.grad is not None and torch.isfinite(d.grad).all() and d.grad.abs().sum() > 0


@pytest.mark.parametrize("height,width", [(91, 161), (90, 160), (17, 18), (5, 3)])
def test_dwt_is_bit_identical_to_the_pytorch_dwt(height, width):
    x = torch.rand(1, height, width, generator=torch.Generator().manual_seed(2)) * 255
    ours = _dwt(x[0].numpy(), 128.0, *_DB2)
    expected = adm.dwt_bands(x, 128.0)[:, 0].numpy()
    assert ours.shape == expected.shape
    assert (ours == expected).all()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_forked_child_gets_a_thread_pool_of_its_own(small_clip):
    """A child forked after the pool started (e.g. a DataLoader worker) does not wait on its
    parent's threads, which it does not have. (torch's own CPU ops want torch.set_num_threads(1)
    in such a child, so the child calls the compiled pass directly.)"""
    dis = _sharpened_noisy(small_clip)
    expected = frame_sums(small_clip, dis, 100.0, 100.0)  # starts the pool in this process
    pid = os.fork()
    if pid == 0:  # child: exit 0 only if it gets the same sums
        code = 1
        try:
            got = frame_sums(small_clip, dis, 100.0, 100.0)
            code = 0 if all(torch.equal(a, b) for a, b in zip(got, expected)) else 1
        finally:
            os._exit(code)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        time.sleep(0.05)
    else:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        pytest.fail("the forked child hung")
    assert os.waitstatus_to_exitcode(status) == 0


def test_log2_is_within_a_few_float32_ulps():
    """Near 1 (tiny logs) the float32 series loses ~2 ulps, as float32 log2 itself loses ~1.4 there."""
    gen = torch.Generator().manual_seed(4)
    arg = torch.cat([torch.tensor([1.0, 2.0, 1.4142135, 1.4142137, 3.0e9]),
                     1.0 + torch.rand(20000, generator=gen) ** 6 * 1e9]).to(torch.float32).numpy()
    out, mant = np.empty_like(arg), np.empty_like(arg)
    _log2_row(arg, arg.view(np.int32), out, mant, mant.view(np.int32))
    exact = np.log2(arg.astype(np.float64))
    assert out[0] == 0.0 and out[1] == 1.0  # exact where libvmaf's rules need 0 and 1
    assert (np.abs(out - exact) <= 3 * np.spacing(np.float32(exact))).all()
