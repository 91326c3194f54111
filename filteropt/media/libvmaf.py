"""Run libvmaf (through ffmpeg's libvmaf filter) and return its per-frame features and scores."""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from filteropt.errors import FilteroptError
from filteropt.media.ffmpeg import require_filters, run_ffmpeg
from filteropt.media.frames import RAW_PIX_FMTS, parse_size, write_y4m

# libvmaf built-in model versions filteropt knows; the float one uses libvmaf's float extractors.
LIBVMAF_MODELS = ("vmaf_v0.6.1", "vmaf_v0.6.1neg", "vmaf_4k_v0.6.1", "vmaf_float_v0.6.1")

FEATURE_KEYS = ("adm2", "motion2", "vif_scale0", "vif_scale1", "vif_scale2", "vif_scale3")


@dataclass
class LibvmafResult:
    """Per-frame output of one libvmaf run: `frames[i]` maps names like 'vmaf', 'adm2' to floats."""

    model: str
    clip: bool
    frames: list[dict[str, float]]
    version: str = ""
    command: list[str] = field(default_factory=list)

    def column(self, key: str) -> torch.Tensor:
        """One metric over all frames, as a float64 tensor."""
        return torch.tensor([f[key] for f in self.frames], dtype=torch.float64)


def _normalise_keys(metrics: dict[str, float]) -> dict[str, float]:
    """Log keys named like the float model's: 'integer_adm2' -> 'adm2', 'integer_adm2_egl_1' -> 'adm2'.

    A gain-limited key keeps its '_egl_1' suffix when the plain feature is logged too.
    """
    plain = {re.sub(r"^(integer|float)_", "", k): float(v) for k, v in metrics.items() if not k.startswith("VMAF_")}
    out = {}
    for key, value in plain.items():
        base = re.sub(r"_egl_[0-9.]+$", "", key)
        out[key if base in plain and base != key else base] = value
    return out


def _input_args(path: Path, raw: tuple[str, str] | None) -> list[str]:
    if raw is None:
        return ["-i", str(path)]
    size, pix_fmt = raw
    if pix_fmt not in RAW_PIX_FMTS or pix_fmt.startswith("gray"):
        raise FilteroptError(f"libvmaf needs a yuv pixel format, not {pix_fmt!r}")
    width, height = parse_size(size)
    return ["-f", "rawvideo", "-pix_fmt", pix_fmt, "-s", f"{width}x{height}", "-i", str(path)]


def libvmaf_on_files(
    ref: str | Path,
    dis: str | Path,
    model: str = "vmaf_v0.6.1",
    clip: bool = True,
    *,
    ref_raw: tuple[str, str] | None = None,
    dis_raw: tuple[str, str] | None = None,
    psnr: bool = False,
    features: Sequence[str] = (),
    threads: int = 0,
    dis_filter: str | None = None,
) -> LibvmafResult:
    """Run libvmaf with `model` on two videos; `*_raw=(size, pix_fmt)` for raw .yuv inputs.

    `features`: extra feature extractors with options, e.g. 'float_vif:vif_enhn_gain_limit=1.0'.
    `dis_filter`: an ffmpeg filter chain applied to `dis` inside the same graph before scoring
    (e.g. a prefilter's exported string with `dis` = `ref`).
    """
    if model not in LIBVMAF_MODELS:
        raise FilteroptError(f"unknown libvmaf model {model!r}; use one of {', '.join(LIBVMAF_MODELS)}")
    return run_libvmaf(_input_args(Path(ref), ref_raw), _input_args(Path(dis), dis_raw), {"vmaf": model}, clip,
                       psnr=psnr, features=features, threads=threads, dis_filter=dis_filter)


def libvmaf_args(
    ref_args: Sequence[str],
    dis_args: Sequence[str],
    models: dict[str, str],
    log_path: str | Path,
    clip: bool = True,
    *,
    psnr: bool = False,
    features: Sequence[str] = (),
    threads: int = 0,
    dis_filter: str | None = None,
    frames: int | None = None,
    pix_fmt: str | None = None,
) -> list[str]:
    """ffmpeg arguments (after the binary) that run libvmaf on two inputs and log JSON to `log_path`.

    `models`: {log name: built-in version}, e.g. {"vmaf": "vmaf_v0.6.1", "vmaf_neg": "vmaf_v0.6.1neg"}.
    `frames` scores only the first frames of both inputs; `pix_fmt` converts both inputs to it first;
    `dis_filter` runs on the distorted input before scoring.
    """
    for version in models.values():
        if version not in LIBVMAF_MODELS:
            raise FilteroptError(f"unknown libvmaf model {version!r}; use one of {', '.join(LIBVMAF_MODELS)}")
    clip_opt = "" if clip else r"\:disable_clip=true"
    model_opt = "|".join(f"version={version}" + (r"\:name=" + name if len(models) > 1 else "") + clip_opt
                         for name, version in models.items())
    options = [f"model='{model_opt}'", "log_fmt=json", f"log_path='{log_path}'", f"n_threads={threads}",
               "shortest=1"]
    extra = [*features, *(["psnr"] if psnr else [])]
    if extra:
        options.append("feature='" + "|".join("name=" + f.replace(":", r"\:") for f in extra) + "'")
    common = (f"trim=end_frame={frames}," if frames else "") + (f"format={pix_fmt}," if pix_fmt else "")
    graph = (
        f"[0:v]{dis_filter + ',' if dis_filter else ''}{common}setpts=PTS-STARTPTS[dis];"
        f"[1:v]{common}setpts=PTS-STARTPTS[ref];"
        f"[dis][ref]libvmaf={':'.join(options)}"
    )
    return [*dis_args, *ref_args, "-lavfi", graph, "-f", "null", "-"]


def run_libvmaf(
    ref_args: Sequence[str],
    dis_args: Sequence[str],
    models: dict[str, str],
    clip: bool = True,
    **options,
) -> LibvmafResult:
    """Run libvmaf on two ffmpeg inputs (their `-i` arguments); one score per entry of `models`,
    logged under its name. `options` as for `libvmaf_args`."""
    require_filters("libvmaf")
    with tempfile.TemporaryDirectory(prefix="filteropt-libvmaf-") as tmp:
        log = Path(tmp) / "vmaf.json"
        args = libvmaf_args(ref_args, dis_args, models, log, clip, **options)
        run_ffmpeg(args)
        try:
            log_data = json.loads(log.read_text())
        except (OSError, ValueError) as exc:
            raise FilteroptError(f"libvmaf wrote no readable log ({exc})") from None
    frames_out = [_normalise_keys(entry["metrics"]) for entry in log_data.get("frames", [])]
    if len(models) == 1:
        name = next(iter(models))
        for f in frames_out:
            if name != "vmaf" and "vmaf" in f:
                f[name] = f.pop("vmaf")
    return LibvmafResult(",".join(models.values()), clip, frames_out, str(log_data.get("version", "")),
                         ["ffmpeg", *args])


def libvmaf_on_tensors(
    ref: torch.Tensor,
    dis: torch.Tensor,
    model: str = "vmaf_v0.6.1",
    clip: bool = True,
    bit_depth: int = 8,
    **kwargs,
) -> LibvmafResult:
    """Run libvmaf on luma tensors [N,1,H,W] of code values (rounded, written as yuv444 y4m)."""
    with tempfile.TemporaryDirectory(prefix="filteropt-frames-") as tmp:
        ref_path, dis_path = os.path.join(tmp, "ref.y4m"), os.path.join(tmp, "dis.y4m")
        write_y4m(ref_path, ref, bit_depth)
        write_y4m(dis_path, dis, bit_depth)
        return libvmaf_on_files(ref_path, dis_path, model, clip, **kwargs)
