"""The embedded sample data: real photographs shipped in scikit-image, moved by smooth sub-pixel pans."""

from __future__ import annotations

import functools

import numpy as np
import torch
import torch.nn.functional as F

# photographs inside the scikit-image wheel (no download)
SAMPLE_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "stereo_motorcycle", "camera",
                 "brick", "grass", "gravel", "hubble_deep_field", "moon", "coins")


@functools.lru_cache(maxsize=None)
def photo_luma(name: str) -> torch.Tensor:
    """A bundled photo as BT.601 luma on the 0..255 scale, float64 [H,W]."""
    from skimage import data

    if name not in SAMPLE_PHOTOS:
        raise ValueError(f"unknown sample photo {name!r}; choose from {', '.join(SAMPLE_PHOTOS)}")
    image = getattr(data, name)()
    if isinstance(image, tuple):  # stereo_motorcycle: (left, right, disparity)
        image = image[0]
    image = np.asarray(image, dtype=np.float64)
    if image.ndim == 3:
        image = image[..., :3] @ np.array([0.299, 0.587, 0.114])
    # limited-range video luma, as an encoder would see it
    return torch.from_numpy(16.0 + image * (219.0 / 255.0))


def pan_clip(photo: str, width: int, height: int, frames: int, *, velocity: tuple[float, float] = (0.7, 0.3),
             zoom_per_frame: float = 0.0, bit_depth: int = 8, start: tuple[float, float] = (0.5, 0.5)) -> torch.Tensor:
    """A clip [N,1,height,width] of code values: a window moving over `photo` by sub-pixel steps.

    The window keeps the photo's pixel scale when it fits (else the photo is scaled up to cover
    it), moves `velocity` pixels per frame and zooms by `zoom_per_frame` (relative) per frame.
    Resampling is bicubic, so motion is real and sub-pixel.
    """
    image = photo_luma(photo)
    ph, pw = image.shape
    scale = max(1.0, (width + 8 * frames * abs(velocity[0]) + 16) / pw,
                (height + 8 * frames * abs(velocity[1]) + 16) / ph)
    src = image[None, None]
    ys, xs = torch.arange(height, dtype=torch.float64), torch.arange(width, dtype=torch.float64)
    grid_y, grid_x = torch.meshgrid(ys - (height - 1) / 2, xs - (width - 1) / 2, indexing="ij")
    out = []
    for t in range(frames):
        zoom = (1.0 + zoom_per_frame) ** t
        cx = start[0] * (pw * scale) + velocity[0] * t - velocity[0] * frames / 2
        cy = start[1] * (ph * scale) + velocity[1] * t - velocity[1] * frames / 2
        px = (cx + grid_x / zoom) / scale
        py = (cy + grid_y / zoom) / scale
        grid = torch.stack([(px + 0.5) / pw * 2 - 1, (py + 0.5) / ph * 2 - 1], dim=-1)[None]
        out.append(F.grid_sample(src, grid, mode="bicubic", padding_mode="reflection", align_corners=False))
    clip = torch.cat(out)
    peak = (1 << bit_depth) - 1
    return (clip * (1 << (bit_depth - 8))).round().clamp(0, peak).to(torch.float32)


def gaussian_noise(clip: torch.Tensor, bit_depth: int = 8, sigma: float = 4.0, seed: int = 0) -> torch.Tensor:
    """`clip` plus seeded Gaussian noise of `sigma` 8-bit codes, rounded and clamped to valid codes."""
    gen = torch.Generator().manual_seed(seed)
    noise = torch.randn(clip.shape, generator=gen, dtype=torch.float64) * sigma * (1 << (bit_depth - 8))
    return (clip.double() + noise).round().clamp(0, (1 << bit_depth) - 1).to(clip.dtype)


# (photo, velocity px/frame (x, y), zoom per frame) of the embedded sample clips
SAMPLE_MOTIONS: tuple[tuple[str, tuple[float, float], float], ...] = (
    ("astronaut", (0.7, 0.3), 0.0),
    ("coffee", (-0.45, 0.55), 0.004),
    ("chelsea", (0.35, -0.6), 0.0),
    ("rocket", (-0.8, -0.25), -0.003),
    ("camera", (0.5, 0.5), 0.002),
    ("brick", (0.6, -0.2), 0.0),
)
# ffmpeg generator sources used as synthetic sample clips
SAMPLE_SYNTHETIC: tuple[str, ...] = ("mandelbrot", "life=mold=10:ratio=0.5:seed=7")


def sample_clip_tensors(width: int = 320, height: int = 180, frames: int = 12) -> dict[str, torch.Tensor]:
    """The embedded sample clips by name: photo pans/zooms, then ffmpeg synthetic sources; 8-bit code values."""
    from filteropt.media.synthetic import lavfi_clip

    clips = {f"{photo}_pan": pan_clip(photo, width, height, frames, velocity=velocity, zoom_per_frame=zoom)
             for photo, velocity, zoom in SAMPLE_MOTIONS}
    for source in SAMPLE_SYNTHETIC:
        clips[source.split("=")[0]] = lavfi_clip(source, width, height, frames)
    return clips
