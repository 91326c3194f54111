"""libvmaf's float motion feature: mean absolute difference of blurred consecutive reference frames."""

from __future__ import annotations

import torch
import torch.nn.functional as F

# libvmaf's 5-tap Gaussian used to blur frames before differencing
MOTION_TAPS = (0.054488685, 0.244201342, 0.402619947, 0.244201342, 0.054488685)


def _filter_axis(x: torch.Tensor, dim: int) -> torch.Tensor:
    """The 5-tap kernel along `dim` with mirrored borders, as a sum of shifted copies.

    (Shifted multiply-adds in tap order, like libvmaf; far faster on CPU than a 1-D conv2d.)
    """
    n = x.shape[dim]
    pad = (0, 0, 2, 2) if dim == -2 else (2, 2, 0, 0)
    padded = F.pad(x, pad, mode="reflect")
    out = padded.narrow(dim, 0, n) * MOTION_TAPS[0]
    for k in range(1, 5):
        out = out.add_(padded.narrow(dim, k, n), alpha=MOTION_TAPS[k])
    return out


def motion_blur(frames: torch.Tensor) -> torch.Tensor:
    """Blur [N,1,H,W] frames with the 5-tap kernel, vertical then horizontal, mirrored borders."""
    return _filter_axis(_filter_axis(frames - 128.0, -2), -1)


def motion_scores(ref: torch.Tensor) -> torch.Tensor:
    """Per-frame `motion`: 0 for frame 0, else mean |blur(ref[i]) - blur(ref[i-1])|. Shape [N].

    Frames are blurred one at a time (no clip-sized temporaries), each reused for the next difference.
    """
    scores = [torch.zeros(1, dtype=ref.dtype, device=ref.device)]
    previous = motion_blur(ref[:1]) if ref.shape[0] > 1 else None
    for i in range(1, ref.shape[0]):
        current = motion_blur(ref[i:i + 1])
        sad = (current - previous).abs_().sum(dtype=torch.float64) / current.numel()
        scores.append(sad.to(ref.dtype).view(1))
        previous = current
    return torch.cat(scores)


def motion2_from_motion(motion: torch.Tensor) -> torch.Tensor:
    """`motion2[i] = min(motion[i], motion[i+1])`, and `motion[last]` for the last frame."""
    if motion.shape[0] < 2:
        return motion.clone()
    return torch.cat([torch.minimum(motion[:-1], motion[1:]), motion[-1:]])


def motion_features(ref: torch.Tensor) -> dict[str, torch.Tensor]:
    """{'motion': [N], 'motion2': [N]} of a clip of reference frames [N,1,H,W] in order."""
    motion = motion_scores(ref)
    return {"motion": motion, "motion2": motion2_from_motion(motion)}
