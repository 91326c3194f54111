"""Small residual CNN prefilters on luma, `y = x + alpha * g(x)`, and their checkpoint format.

The body g works on normalised luma (x / peak - 0.5) at a reduced grid: the frame is padded to a
multiple of `scale`, folded into scale*scale channels (pixel unshuffle, no information lost),
passed through 3x3 convolutions with ReLUs (weights cast to the input's dtype), unfolded and cropped. That keeps every input pixel
visible while cutting the work per pixel by scale**2, which is what makes the small one real time
on a CPU. The last convolution starts at zero, so a fresh network is the identity.

Checkpoint (written by `save_cnn`, read by `filteropt.prefilters.spec.load_cnn`): a `torch.save` dict
`{"format": "filteropt-cnn", "version": 1, "arch": NAME, "config": {scale, width, hidden},
"alpha": float, "state_dict": {...}}`, loadable with `torch.load(..., weights_only=True)`.
"""

from __future__ import annotations

import copy
import math
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from filteropt.errors import FilteroptError

CHECKPOINT_FORMAT = "filteropt-cnn"
CHECKPOINT_VERSION = 1

# name -> fold factor, hidden channels, hidden width->width 3x3 layers; 2,912 and 27,760 parameters.
# Folding by 4 (16 channels per 4x4 block) makes the small one about 4x cheaper per pixel than
# folding by 2 at the same size: ~35 ms per 1080p frame on one loaded CPU core instead of ~130.
CNN_ARCHS: dict[str, dict[str, int]] = {
    "cnn3k": {"scale": 4, "width": 8, "hidden": 1},
    "cnn30k": {"scale": 4, "width": 32, "hidden": 2},
}


class ResidualCNN(nn.Module):
    """y = x + alpha * peak * g(x / peak - 0.5) on luma code values x [N,1,H,W], any frame size.

    `bit_depth` (8 or 10) sets peak; the same weights serve both depths. `forward` computes in x's
    dtype and is differentiable in x and the weights. `deploy` gives the frame
    the exported TorchScript (and `filteropt apply`) writes: float32, rounded and clipped.
    """

    def __init__(self, arch: str = "cnn3k", alpha: float = 1.0, *, scale: int | None = None,
                 width: int | None = None, hidden: int | None = None) -> None:
        super().__init__()
        if arch not in CNN_ARCHS and None in (scale, width, hidden):
            raise FilteroptError(f"unknown CNN architecture {arch!r}; use one of {', '.join(CNN_ARCHS)}")
        config = dict(CNN_ARCHS.get(arch, {}))
        config.update({k: v for k, v in (("scale", scale), ("width", width), ("hidden", hidden)) if v is not None})
        self.arch = arch
        self.scale = int(config["scale"])
        self.width = int(config["width"])
        self.hidden = int(config["hidden"])
        self.alpha = float(alpha)
        folded = self.scale * self.scale
        widths = [folded] + [self.width] * (self.hidden + 1) + [folded]
        self.convs = nn.ModuleList(nn.Conv2d(a, b, 3, padding=1) for a, b in zip(widths[:-1], widths[1:]))
        nn.init.zeros_(self.convs[-1].weight)
        nn.init.zeros_(self.convs[-1].bias)

    @property
    def config(self) -> dict[str, int]:
        """The shape parameters stored in a checkpoint."""
        return {"scale": self.scale, "width": self.width, "hidden": self.hidden}

    def normalised_residual(self, x: torch.Tensor, bit_depth: int = 8) -> torch.Tensor:
        """g(x) / peak: the body's output on the normalised frame (same shape as x)."""
        peak = float((1 << bit_depth) - 1)
        h, w = x.shape[-2], x.shape[-1]
        s = self.scale
        pad_h, pad_w = (s - h % s) % s, (s - w % s) % s
        z = x * (1.0 / peak) - 0.5
        if pad_h or pad_w:
            z = F.pad(z, [0, pad_w, 0, pad_h], mode="replicate")
        if s > 1:
            z = F.pixel_unshuffle(z, s)
        z = z.contiguous(memory_format=torch.channels_last)
        last = len(self.convs) - 1
        for i, conv in enumerate(self.convs):  # weights cast to the input's dtype: float32 or float64
            bias = conv.bias
            if bias is not None:
                bias = bias.to(z.dtype)
            z = F.conv2d(z, conv.weight.to(z.dtype), bias, padding=1)
            if i < last:
                z = F.relu_(z)
        if s > 1:
            z = F.pixel_shuffle(z, s)
        if pad_h or pad_w:
            z = z[..., :h, :w]
        return z.contiguous()

    def residual(self, x: torch.Tensor, bit_depth: int = 8) -> torch.Tensor:
        """g(x) in code values of `bit_depth`."""
        return self.normalised_residual(x, bit_depth) * float((1 << bit_depth) - 1)

    def forward(self, x: torch.Tensor, bit_depth: int = 8) -> torch.Tensor:
        """Float result (no rounding or clipping), differentiable in x and the weights."""
        scale = self.alpha * float((1 << bit_depth) - 1)
        return torch.add(x, self.normalised_residual(x, bit_depth), alpha=scale)

    @torch.no_grad()
    def deploy(self, x: torch.Tensor, bit_depth: int = 8) -> torch.Tensor:
        """The integer frame the deployed filter writes (float32 code values)."""
        if bit_depth not in (8, 10):
            raise FilteroptError(f"unsupported bit depth {bit_depth}; use 8 or 10")
        x = x.to(torch.float32)  # the artefact runs in float32
        return deployed_frame(x, self.normalised_residual(x, bit_depth), self.alpha, bit_depth)


def deployed_frame(x: torch.Tensor, residual: torch.Tensor, alpha: float, bit_depth: int) -> torch.Tensor:
    """round(x + alpha * peak * residual) clipped to the code range: the one deploy computation,
    shared by eager mode and TorchScript so both give the same bits."""
    peak = float((1 << bit_depth) - 1)
    y = torch.add(x, residual, alpha=alpha * peak)
    return y.round_().clamp_(0.0, peak)


class DeployedCNN(nn.Module):
    """The scriptable deploy path: forward(x, bit_depth) = rounded, clipped x + alpha * g(x).

    This is what `export` turns into TorchScript; `alpha` is a plain attribute so a loaded file can be
    re-scaled.
    """

    def __init__(self, cnn: ResidualCNN) -> None:
        super().__init__()
        self.cnn = cnn
        self.alpha = float(cnn.alpha)
        self.arch = cnn.arch
        self.format = CHECKPOINT_FORMAT + "-torchscript"

    def forward(self, x: torch.Tensor, bit_depth: int = 8) -> torch.Tensor:
        x = x.to(torch.float32)
        return deployed_frame(x, self.cnn.normalised_residual(x, bit_depth), self.alpha, bit_depth)


def parameter_count(module: nn.Module) -> int:
    """Number of learnable scalars."""
    return sum(p.numel() for p in module.parameters())


def save_cnn(path: str | Path, cnn: ResidualCNN) -> None:
    """Write a CNN checkpoint (format in the module docstring), atomically."""
    from filteropt.io import atomic_write

    state = {k: v.detach().cpu() for k, v in cnn.state_dict().items()}
    data = {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, "arch": cnn.arch,
            "config": cnn.config, "alpha": float(cnn.alpha), "state_dict": state}
    with atomic_write(path, "wb") as f:
        torch.save(data, f)


def cnn_from_checkpoint(data: object, source: str) -> ResidualCNN:
    """Build the ResidualCNN a loaded checkpoint dict describes; FilteroptError if it is not one."""
    hint = (f"{source} is not a filteropt CNN checkpoint (a torch file holding format "
            f"'{CHECKPOINT_FORMAT}', arch, config, alpha and state_dict); write one with "
            "filteropt.prefilters.cnn.save_cnn")
    if not isinstance(data, dict) or data.get("format") != CHECKPOINT_FORMAT:
        raise FilteroptError(hint)
    try:
        config = {k: int(v) for k, v in dict(data.get("config") or {}).items()}
        alpha = float(data.get("alpha", 1.0))
        cnn = ResidualCNN(str(data["arch"]), alpha, **config)
        cnn.load_state_dict(data["state_dict"])
    except FilteroptError:
        raise
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise FilteroptError(f"{hint} ({first})") from None
    if not math.isfinite(cnn.alpha) or not all(torch.isfinite(p).all() for p in cnn.parameters()):
        raise FilteroptError(f"{source} holds non-finite weights or alpha; retrain or pick another checkpoint")
    return cnn.eval()


class ScriptedCNN(nn.Module):
    """An exported TorchScript CNN (a scripted DeployedCNN) used as a prefilter: deploy only."""

    def __init__(self, scripted: torch.jit.ScriptModule) -> None:
        super().__init__()
        self.scripted = scripted

    @property
    def alpha(self) -> float:
        """The strength baked into the file (settable)."""
        return float(self.scripted.alpha)

    @alpha.setter
    def alpha(self, value: float) -> None:
        self.scripted.alpha = float(value)

    @torch.no_grad()
    def deploy(self, x: torch.Tensor, bit_depth: int = 8) -> torch.Tensor:
        """The frame the TorchScript file writes (float32 code values)."""
        if bit_depth not in (8, 10):
            raise FilteroptError(f"unsupported bit depth {bit_depth}; use 8 or 10")
        return self.scripted(x, bit_depth)

    def forward(self, x: torch.Tensor, bit_depth: int = 8) -> torch.Tensor:
        """Same as deploy (a TorchScript file is not trainable here)."""
        return self.deploy(x, bit_depth)


def script_cnn(cnn: ResidualCNN) -> torch.jit.ScriptModule:
    """The TorchScript deploy module of `cnn` (a copy; CPU, eval mode)."""
    module = DeployedCNN(copy.deepcopy(cnn).cpu().float().eval())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch >= 2.10 marks TorchScript deprecated
        return torch.jit.script(module)
