"""`filteropt export`: a filter spec as what ffmpeg runs (a -vf string) or, for CNNs, a TorchScript
file plus the y4m pipe command that runs it between two ffmpeg processes."""

from __future__ import annotations

import shlex
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch

from filteropt.errors import FilteroptError
from filteropt.export.ffmpeg_filters import unsharp_overflows
from filteropt.io import atomic_write, check_writable
from filteropt.prefilters.cnn import ResidualCNN, ScriptedCNN, parameter_count, script_cnn
from filteropt.prefilters.linear import LinearPrefilter
from filteropt.prefilters.spec import FilterSpec, build_filter, parse_spec, resolve_spec
from filteropt.prefilters.unsharp import UnsharpPrefilter

TORCHSCRIPT_SUFFIX = ".ts.pt"


@dataclass
class FilterExport:
    """An exported filter: `filter` for ffmpeg-runnable kinds, `torchscript` + `command` for CNNs."""

    kind: str  # none | linear | unsharp | cnn
    spec: str
    filter: str | None = None
    torchscript: Path | None = None
    command: str | None = None
    details: dict = field(default_factory=dict)

    def to_string(self) -> str:
        """What `--format string` prints: the -vf string, or the pipe command for a CNN."""
        return self.filter if self.filter is not None else str(self.command)

    def to_json(self) -> dict:
        """What `--format json` prints."""
        data: dict = {"kind": self.kind, "spec": self.spec}
        if self.filter is not None:
            data["filter"] = self.filter
        if self.torchscript is not None:
            data["torchscript"] = str(self.torchscript)
            data["command"] = self.command
        data.update(self.details)
        return data


def default_torchscript_path(checkpoint: Path) -> Path:
    """`model.pt` -> `model.ts.pt` beside it (a TorchScript input is re-exported beside itself as is)."""
    name = checkpoint.name
    stem = name[: -len(TORCHSCRIPT_SUFFIX)] if name.endswith(TORCHSCRIPT_SUFFIX) else checkpoint.stem
    if name.endswith(TORCHSCRIPT_SUFFIX):
        stem += ".export"
    return checkpoint.with_name(stem + TORCHSCRIPT_SUFFIX)


def pipe_command(torchscript: Path) -> str:
    """The shell pipeline that filters IN into OUT.mkv with the TorchScript CNN (y4m between processes)."""
    spec = shlex.quote(f"cnn:{torchscript}")
    return (f"ffmpeg -i IN -map 0:v:0 -f yuv4mpegpipe -strict -1 - | filteropt apply --filter {spec} - - | "
            "ffmpeg -f yuv4mpegpipe -i - -c:v ffv1 OUT.mkv")


def save_torchscript(module: ResidualCNN | ScriptedCNN, path: Path) -> None:
    """Write the deploy-mode TorchScript of a CNN prefilter, atomically."""
    check_writable(path)
    scripted = module.scripted if isinstance(module, ScriptedCNN) else script_cnn(module)
    with atomic_write(path, "wb") as f, warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.save(scripted, f)


def export_filter(spec: str | FilterSpec, out: str | Path | None = None) -> FilterExport:
    """Export a spec: linear -> convolution string with its integer taps and errors, unsharp -> unsharp
    string, none -> 'null', cnn -> TorchScript at `out` (default beside the checkpoint) + pipe command."""
    parsed = parse_spec(spec) if isinstance(spec, str) else spec
    resolved = resolve_spec(parsed)
    module = build_filter(resolved)
    text = parsed.text
    if out is not None and resolved.kind != "cnn":
        raise FilteroptError("--out is for CNN filters (the TorchScript file); other filters export a string")
    if isinstance(module, LinearPrefilter):
        export = module.export()
        details = {"alpha": module.alpha, "size": int(export.taps.shape[0]),
                   "taps": export.taps.tolist(), "rdiv": export.rdiv, "bias": export.bias,
                   "worst_tap_error": export.tap_error, "worst_pixel_error_8bit": export.pixel_error}
        return FilterExport("linear", text, export.filter, details=details)
    if isinstance(module, UnsharpPrefilter):
        details = {"size": module.size, "amount": module.deployed_amount(),
                   "overflows_at_10bit": unsharp_overflows(module.size, 10)}
        return FilterExport("unsharp", text, module.ffmpeg_filter(), details=details)
    if not isinstance(module, (ResidualCNN, ScriptedCNN)):
        return FilterExport("none", text, module.ffmpeg_filter())
    path = Path(out) if out is not None else default_torchscript_path(resolved.path)
    if path.resolve() == resolved.path.resolve():
        raise FilteroptError(f"--out {path} is the CNN file itself; choose another path")
    save_torchscript(module, path)
    details = {"alpha": module.alpha}
    if isinstance(module, ResidualCNN):
        details.update({"arch": module.arch, "parameters": parameter_count(module), **module.config})
    return FilterExport("cnn", text, torchscript=path, command=pipe_command(path), details=details)
