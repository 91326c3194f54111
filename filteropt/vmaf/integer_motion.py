"""libvmaf's integer (fixed-point) motion feature, bit-exact: `motion` (SAD score) and `motion2`.

The frame difference of consecutive reference frames is blurred with a 5-tap fixed-point Gaussian
(vertical pass rounded and shifted by the bit depth, horizontal pass by 16 bits, mirrored borders);
the score is the sum of absolute values / 256 / (W*H), capped at 10000. Forward only.
"""

from __future__ import annotations

import torch

from filteropt.vmaf.integer_vif import code_values, filter_axis

# Fixed-point 5-tap Gaussian, sums to 65536
MOTION_INT_TAPS = (3571, 16004, 26386, 16004, 3571)
MOTION_MAX = 10000.0


def integer_motion_sad(prev: torch.Tensor, cur: torch.Tensor, bit_depth: int = 8) -> torch.Tensor:
    """Per-pair sum of |blur(prev - cur)| in libvmaf's fixed point; int64 [N,H,W] in, int64 [N] out."""
    shift = 8 if bit_depth == 8 else bit_depth
    v = (filter_axis(prev - cur, MOTION_INT_TAPS, 1) + (1 << (shift - 1))) >> shift
    v = (filter_axis(v, MOTION_INT_TAPS, 2) + 32768) >> 16
    return v.abs().sum(dim=(1, 2))


def integer_motion_features(ref: torch.Tensor, bit_depth: int = 8) -> dict[str, torch.Tensor]:
    """libvmaf integer motion {'motion': [N], 'motion2': [N]} float64 of reference frames [N,1,H,W].

    `motion[0] = 0`; `motion2[i] = min(motion[i], motion[i+1])`, `motion2[last] = motion[last]`.
    """
    n, _, height, width = ref.shape
    chunk = max(1, (1 << 22) // (height * width))
    sads = []
    with torch.no_grad():
        frames = code_values(ref[:, 0])
        for start in range(1, n, chunk):
            stop = min(n, start + chunk)
            sads.append(integer_motion_sad(frames[start - 1:stop - 1], frames[start:stop], bit_depth))
    sad = torch.cat(sads) if sads else torch.zeros(0, dtype=torch.int64, device=ref.device)
    motion = torch.cat([torch.zeros(1, dtype=torch.float64, device=ref.device),
                        (sad.to(torch.float64) / 256.0 / (width * height)).clamp(max=MOTION_MAX)])
    if n < 2:
        return {"motion": motion[:n], "motion2": motion[:n].clone()}
    motion2 = torch.cat([torch.minimum(motion[:-1], motion[1:]), motion[-1:]])
    motion2[0] = 0.0
    return {"motion": motion, "motion2": motion2}
