"""The filter-spec syntax every command takes, parsed into a FilterSpec and built into a module.

Specs (ALPHA defaults to 1 and scales the filter's strength: 0 is the identity):
- `none`: the identity.
- `unsharp:SIZE:AMOUNT`: ffmpeg's unsharp on luma, SIZE in 3..13 odd, AMOUNT in [-2, 5].
- `kernel:PATH[:ALPHA]`: a k x k kernel (k odd, at most 7 after dropping all-zero outer rings) in a
  `.npy` file or a `.json` file holding a list of rows or {"kernel": rows}; output
  x + ALPHA * (conv(x, K) - x), mirrored borders as in ffmpeg's convolution.
- `cnn:PATH[:ALPHA]`: a CNN checkpoint (see filteropt.prefilters.cnn) or a TorchScript file that
  `filteropt export` wrote; the effective strength is ALPHA times the alpha stored in the file.
- `run:RUN_DIR[:ALPHA]`: the final filter of a training run. RUN_DIR/filter.json describes it, paths
  relative to RUN_DIR, with an optional "alpha" (multiplied with ALPHA):
  {"kind": "linear", "kernel": "kernel.npy"} · {"kind": "cnn", "checkpoint": "cnn.pt"} ·
  {"kind": "unsharp", "size": 7, "amount": 0.5} (amount times ALPHA) · {"kind": "none"}.
"""

from __future__ import annotations

import json
import math
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from filteropt.errors import FilteroptError
from filteropt.export.ffmpeg_filters import (
    UNSHARP_AMOUNT_RANGE,
    UNSHARP_SIZES,
    linear_to_ffmpeg,
)
from filteropt.prefilters.cnn import CHECKPOINT_FORMAT, ResidualCNN, ScriptedCNN, cnn_from_checkpoint
from filteropt.prefilters.linear import LinearPrefilter, to_codes
from filteropt.prefilters.unsharp import UnsharpPrefilter

SPEC_KINDS = ("none", "unsharp", "kernel", "cnn", "run")
SPEC_SYNTAX = "none, unsharp:SIZE:AMOUNT, kernel:PATH[:ALPHA], cnn:PATH[:ALPHA] or run:RUN_DIR[:ALPHA]"
RUN_FILTER_FILE = "filter.json"
RUN_KINDS = ("none", "linear", "unsharp", "cnn")


@dataclass(frozen=True)
class FilterSpec:
    """A parsed filter spec; `run` specs keep their folder until `resolve_spec` reads it."""

    kind: str  # none | unsharp | kernel | cnn | run
    path: Path | None = None
    alpha: float = 1.0
    size: int | None = None  # unsharp
    amount: float | None = None  # unsharp
    text: str = ""


def _bad(text: str, problem: str) -> FilteroptError:
    return FilteroptError(f"bad filter spec {text!r}: {problem}; use {SPEC_SYNTAX}")


def _number(value: str, what: str, text: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise _bad(text, f"{what} {value!r} is not a number") from None
    if not math.isfinite(number):
        raise _bad(text, f"{what} must be finite")
    return number


def _split_alpha(rest: str) -> tuple[str, str | None]:
    """'PATH' or 'PATH:ALPHA' (a path may hold colons: the last field is ALPHA only if numeric)."""
    head, sep, tail = rest.rpartition(":")
    if sep and head:
        try:
            float(tail)
        except ValueError:
            return rest, None
        return head, tail
    return rest, None


def parse_spec(text: str) -> FilterSpec:
    """Parse a spec string (syntax only; files are read by `build_filter`)."""
    if not isinstance(text, str) or not text.strip():
        raise _bad(str(text), "it is empty")
    text = text.strip()
    kind, _, rest = text.partition(":")
    if kind not in SPEC_KINDS:
        raise _bad(text, f"unknown kind {kind!r}")
    if kind == "none":
        if rest:
            raise _bad(text, "'none' takes no arguments")
        return FilterSpec("none", text=text)
    if kind == "unsharp":
        fields = rest.split(":")
        if len(fields) != 2 or not all(fields):
            raise _bad(text, "unsharp needs SIZE and AMOUNT, e.g. unsharp:7:0.5")
        try:
            size = int(fields[0])
        except ValueError:
            raise _bad(text, f"unsharp SIZE {fields[0]!r} is not an integer") from None
        if size not in UNSHARP_SIZES:
            raise _bad(text, f"unsharp SIZE {size} is not one ffmpeg takes ({', '.join(map(str, UNSHARP_SIZES))})")
        amount = _number(fields[1], "unsharp AMOUNT", text)
        lo, hi = UNSHARP_AMOUNT_RANGE
        if not lo <= amount <= hi:
            raise _bad(text, f"unsharp AMOUNT {amount} is outside ffmpeg's range [{lo:g}, {hi:g}]")
        return FilterSpec("unsharp", alpha=amount, size=size, amount=amount, text=text)
    path, alpha = _split_alpha(rest)
    if not path:
        raise _bad(text, f"{kind} needs a path, e.g. {kind}:{'RUN_DIR' if kind == 'run' else 'PATH'}")
    return FilterSpec(kind, Path(path), _number(alpha, "ALPHA", text) if alpha is not None else 1.0, text=text)


def _need_file(path: Path, what: str) -> None:
    if not path.exists():
        raise FilteroptError(f"{what} {path} does not exist; check the path in the filter spec")
    if not path.is_file():
        raise FilteroptError(f"{what} {path} is not a file; give the file itself")


def resolve_spec(spec: FilterSpec) -> FilterSpec:
    """Turn a `run:` spec into the concrete spec its filter.json describes (others are returned as is)."""
    if spec.kind != "run":
        return spec
    folder = spec.path
    if not folder.is_dir():
        raise FilteroptError(f"run directory {folder} does not exist; give the folder a training run wrote")
    meta_path = folder / RUN_FILTER_FILE
    _need_file(meta_path, "run filter description")
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError) as exc:
        raise FilteroptError(f"{meta_path} is not readable JSON ({exc}); fix or regenerate it") from None
    if not isinstance(meta, dict) or meta.get("kind") not in RUN_KINDS:
        raise FilteroptError(f"{meta_path} must hold {{\"kind\": one of {', '.join(RUN_KINDS)}, ...}}")
    try:
        alpha = spec.alpha * float(meta.get("alpha", 1.0))
    except (TypeError, ValueError):
        raise FilteroptError(f"{meta_path}: \"alpha\" must be a number") from None
    kind = meta["kind"]
    text = f"{spec.text} ({kind})"
    try:
        if kind == "none":
            return FilterSpec("none", text=text)
        if kind == "unsharp":
            size, amount = int(meta["size"]), float(meta["amount"]) * alpha
            return parse_spec(f"unsharp:{size}:{amount!r}")
        key = "kernel" if kind == "linear" else "checkpoint"
        path = folder / str(meta[key])
    except (KeyError, TypeError, ValueError) as exc:
        raise FilteroptError(f"{meta_path} lacks a valid {exc} entry for kind {kind!r}") from None
    return FilterSpec("kernel" if kind == "linear" else "cnn", path, alpha, text=text)


def load_kernel(path: Path) -> np.ndarray:
    """A k x k float64 kernel from .npy or .json, checked square, odd-sized and finite."""
    _need_file(path, "kernel file")
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            data = np.load(path, allow_pickle=False)
        elif suffix == ".json":
            data = json.loads(path.read_text())
            if isinstance(data, dict):
                data = data["kernel"]
        else:
            raise FilteroptError(f"kernel file {path} must end in .npy or .json")
        kernel = np.asarray(data, dtype=np.float64)
    except FilteroptError:
        raise
    except (OSError, ValueError, TypeError, KeyError, UnicodeDecodeError) as exc:
        raise FilteroptError(
            f"kernel file {path} is not readable ({type(exc).__name__}); save a k x k array with "
            "numpy.save or as JSON rows"
        ) from None
    if kernel.ndim != 2 or kernel.shape[0] != kernel.shape[1] or kernel.shape[0] % 2 == 0:
        raise FilteroptError(f"kernel in {path} has shape {kernel.shape}; it must be square with an odd size")
    if not np.all(np.isfinite(kernel)):
        raise FilteroptError(f"kernel in {path} has non-finite taps (nan or inf); fix them")
    return kernel


def _ffmpeg_sized(kernel: np.ndarray, path: Path) -> np.ndarray:
    """Pad a 1x1 kernel to 3x3 and drop all-zero outer rings down to a size ffmpeg takes (3, 5, 7)."""
    k = kernel.shape[0]
    while k > 7 and not (kernel[0].any() or kernel[-1].any() or kernel[:, 0].any() or kernel[:, -1].any()):
        kernel, k = kernel[1:-1, 1:-1], k - 2
    if k > 7:
        raise FilteroptError(f"kernel in {path} is {k}x{k}; ffmpeg's convolution takes at most 7x7, crop it")
    if k == 1:
        kernel = np.pad(kernel, 1)
    return kernel


class IdentityPrefilter(nn.Module):
    """The `none` filter: returns its input (deploy: rounded and clipped codes)."""

    alpha = 0.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x itself."""
        return x

    def ffmpeg_filter(self) -> str:
        """ffmpeg's pass-through filter."""
        return "null"

    @torch.no_grad()
    def deploy(self, x: torch.Tensor, bit_depth: int = 8) -> torch.Tensor:
        """x as written to video: rounded and clipped (float32 code values)."""
        return to_codes(x, bit_depth).to(torch.float32)


def deployed_filter_string(module: nn.Module, bit_depth: int) -> str | None:
    """The ffmpeg -vf string a prefilter deploys as at `bit_depth` ('null' for the identity), or None
    for filters only torch runs (CNNs). Unsharp sizes that overflow inside ffmpeg at that depth raise."""
    if isinstance(module, UnsharpPrefilter):
        return module.ffmpeg_filter(bit_depth)
    if isinstance(module, (LinearPrefilter, IdentityPrefilter)):
        return module.ffmpeg_filter()
    return None


def is_torchscript(path: Path) -> bool:
    """True for a TorchScript archive (it holds compiled code), False for a torch.save file."""
    try:
        with zipfile.ZipFile(path) as archive:
            return any("/code/" in name or name.endswith("constants.pkl") for name in archive.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


def load_cnn(path: Path, alpha: float = 1.0) -> ResidualCNN | ScriptedCNN:
    """A CNN prefilter from a checkpoint or an exported TorchScript file; strength times `alpha`."""
    _need_file(path, "CNN file")
    hint = f"{path} is not a filteropt CNN checkpoint or TorchScript export; give a file save_cnn or `filteropt export` wrote"
    if is_torchscript(path):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                scripted = torch.jit.load(str(path), map_location="cpu")
            if getattr(scripted, "format", None) != CHECKPOINT_FORMAT + "-torchscript":
                raise FilteroptError(hint)
            module = ScriptedCNN(scripted)
            module.alpha = module.alpha * alpha
        except (RuntimeError, AttributeError, ValueError):
            raise FilteroptError(hint) from None
        return module.eval()
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # torch raises many types (UnpicklingError, RuntimeError, EOFError...) for non-checkpoints
        raise FilteroptError(hint) from None
    cnn = cnn_from_checkpoint(data, str(path))
    cnn.alpha = cnn.alpha * alpha
    return cnn


def build_filter(spec: FilterSpec | str) -> nn.Module:
    """The prefilter module of a spec; every one has `deploy(x, bit_depth)`, ffmpeg-exportable ones
    also `ffmpeg_filter()`."""
    spec = resolve_spec(parse_spec(spec) if isinstance(spec, str) else spec)
    if spec.kind == "none":
        return IdentityPrefilter()
    if spec.kind == "unsharp":
        return UnsharpPrefilter(spec.size, spec.amount)
    if spec.kind == "kernel":
        kernel = _ffmpeg_sized(load_kernel(spec.path), spec.path)
        linear_to_ffmpeg(kernel, spec.alpha)  # fails early on kernels that cannot be exported
        module = LinearPrefilter(kernel.shape[0], mean_preserving=False, alpha=spec.alpha).double()
        with torch.no_grad():
            module.weight.copy_(torch.from_numpy(kernel))
        return module
    return load_cnn(spec.path, spec.alpha)

