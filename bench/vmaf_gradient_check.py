"""Autograd of our VMAF against finite differences of libvmaf itself, as one table.

A 5x5 Gaussian blur is applied to natural frames (a pan over a bundled photo); its taps are moved
along a direction by ±h, the result is rounded to 8 bit and scored by libvmaf (vmaf_float_v0.6.1,
unclipped). The central difference of libvmaf's mean score is compared with the derivative our
VMAF gives by autograd on the unrounded frames. Target: within 2 % relative. The verdict uses
h = 0.02: smaller steps move few pixels across a rounding boundary (noise), larger ones show the
curvature of VMAF (the central difference's h² error, large where the derivative is small).

    python bench/vmaf_gradient_check.py [--size 960x540] [--frames 3]
"""

from __future__ import annotations

import argparse
import sys

import torch
import torch.nn.functional as F

# _common first: it makes filteropt importable from a checkout
from _common import print_table

from filteropt.datasets.sample import pan_clip
from filteropt.media import libvmaf_on_tensors
from filteropt.vmaf import VMAF

STEPS = (0.01, 0.02, 0.04, 0.08)
VERDICT_STEP = 0.02


def directions(seed: int = 0) -> dict[str, torch.Tensor]:
    """Zero-sum tap directions with unit L1 norm: the centre tap, and a random one."""
    centre = torch.zeros(5, 5, dtype=torch.float64)
    centre[2, 2] = 1.0
    gen = torch.Generator().manual_seed(seed)
    out = {"centre tap": centre, "random": torch.randn(5, 5, generator=gen, dtype=torch.float64)}
    return {k: (d - d.mean()) / (d - d.mean()).abs().sum() for k, d in out.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="960x540", help="frame size WxH")
    parser.add_argument("--frames", type=int, default=3, help="frames of the pan")
    parser.add_argument("--photo", default="astronaut", help="bundled photo")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    ref = pan_clip(args.photo, width, height, args.frames, velocity=(0.6, 0.3)).double()
    g = torch.exp(-torch.arange(-2, 3, dtype=torch.float64) ** 2 / (2 * 0.9 ** 2))
    base = torch.outer(g, g) / g.sum() ** 2

    def blurred(kernel: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.pad(ref, (2, 2, 2, 2), mode="reflect"), kernel[None, None])

    metric = VMAF()
    rows, worst = [], 0.0
    for name, direction in directions().items():
        theta = torch.zeros((), dtype=torch.float64, requires_grad=True)
        metric(ref, blurred(base + theta * direction)).scores.mean().backward()
        autograd = theta.grad.item()
        for h in STEPS:
            lib = [libvmaf_on_tensors(ref, blurred(base + t * direction).round().clamp(0, 255),
                                      "vmaf_float_v0.6.1", clip=False).column("vmaf").mean().item()
                   for t in (-h, h)]
            fd = (lib[1] - lib[0]) / (2 * h)
            rel = abs(autograd - fd) / abs(fd)
            if h == VERDICT_STEP:
                worst = max(worst, rel)
            rows.append([name, h, autograd, fd, f"{100 * rel:.2f} %"])
    print(f"{args.photo} {width}x{height}, {args.frames} frames; d(mean VMAF)/d(step along direction)")
    print_table(["direction", "h", "autograd (ours)", "finite diff (libvmaf)", "rel. diff"], rows)
    print(f"{'PASS' if worst <= 0.02 else 'FAIL'}  at h={VERDICT_STEP} worst relative difference "
          f"{100 * worst:.2f} % (target 2 %)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
