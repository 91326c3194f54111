"""Training material from clip sets: a deterministic train/held-out split and random spatio-temporal crops."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch

from filteropt.datasets.clips import Clip
from filteropt.errors import FilteroptError


@dataclass
class PatchBatch:
    """Crops [B,T,1,h,w] float32 code values of `bit_depth`, and the clip name of each crop."""

    frames: torch.Tensor
    bit_depth: int
    clip_names: list[str]


def split_clips(clips: list[Clip], held_out_every: int = 4) -> tuple[list[Clip], list[Clip]]:
    """(train, held-out) by clip: every `held_out_every`-th clip (from the second) is held out.

    With two or more clips both sides get at least one; a single clip goes to training only.
    """
    if held_out_every < 2:
        raise ValueError("held_out_every must be >= 2")
    if len(clips) < 2:
        return list(clips), []
    held_idx = set(range(1, len(clips), held_out_every))
    train = [c for i, c in enumerate(clips) if i not in held_idx]
    held = [c for i, c in enumerate(clips) if i in held_idx]
    return train, held


def _fits(clip: Clip, frames: int, crop: tuple[int, int]) -> bool:
    """Whether a crop of `frames` x `crop` (h, w) fits in the clip."""
    return clip.count_frames() >= frames and clip.height >= crop[0] and clip.width >= crop[1]


def sample_batch(clips: list[Clip], batch_size: int, frames: int, crop: int | tuple[int, int],
                 generator: torch.Generator) -> PatchBatch:
    """One batch of random crops of `frames` consecutive frames, drawn with `generator`.

    Clips of a lower bit depth than the deepest usable clip are scaled up to its code values.
    """
    crop_hw = (crop, crop) if isinstance(crop, int) else tuple(crop)
    usable = [c for c in clips if _fits(c, frames, crop_hw)]
    if not usable:
        raise FilteroptError(
            f"no clip holds a {crop_hw[1]}x{crop_hw[0]} crop of {frames} frames; use a smaller crop or fewer frames"
        )
    bit_depth = max(c.bit_depth for c in usable)
    out, names = [], []
    for _ in range(batch_size):
        clip = usable[int(torch.randint(len(usable), (1,), generator=generator))]
        t0 = int(torch.randint(clip.count_frames() - frames + 1, (1,), generator=generator))
        y0 = int(torch.randint(clip.height - crop_hw[0] + 1, (1,), generator=generator))
        x0 = int(torch.randint(clip.width - crop_hw[1] + 1, (1,), generator=generator))
        block = clip.read(t0, frames)[:, :, y0:y0 + crop_hw[0], x0:x0 + crop_hw[1]]
        if clip.bit_depth != bit_depth:
            block = block * float(2 ** (bit_depth - clip.bit_depth))
        out.append(block)
        names.append(clip.name)
    return PatchBatch(torch.stack(out).to(torch.float32).contiguous(), bit_depth, names)


def patch_batches(clips: list[Clip], batch_size: int = 8, frames: int = 3, crop: int | tuple[int, int] = 64,
                  seed: int = 0) -> Iterator[PatchBatch]:
    """An endless, seed-deterministic stream of crop batches from `clips`."""
    generator = torch.Generator().manual_seed(seed)
    while True:
        yield sample_batch(clips, batch_size, frames, crop, generator)
