"""Accuracy of filteropt's VMAF (and of vmaf-torch) against libvmaf, printed as one table.

Content: scikit-image photos moved by sub-pixel pans, at sizes from 160x90 to 1920x1080 (odd
ones included), 8- and 10-bit, under x265, blur, noise and sharpening; plus optional real clips
(`--realdata DIR`). Every case is scored by libvmaf (float, NEG, 4K and integer models, all
unclipped), by our VMAF and by vmaf-torch; the summary gives max/mean |Δ| per feature and score.

    python bench/vmaf_accuracy.py [--quick] [--realdata DIR]
"""

from __future__ import annotations

import argparse
import functools
import itertools
import re
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

# _common first: it makes filteropt importable from a checkout
from _common import VMAF_TORCH_MISSING, import_vmaf_torch, print_table, vmaf_torch_metric

from filteropt.datasets.sample import gaussian_noise, pan_clip
from filteropt.media import libvmaf_on_tensors, read_luma
from filteropt.media.transform import ffmpeg_filter_frames, x265_roundtrip
from filteropt.vmaf import VMAF

VIF_KEYS = ("vif_scale0", "vif_scale1", "vif_scale2", "vif_scale3")
ADM_KEYS = ("adm2", "adm_scale0", "adm_scale1", "adm_scale2", "adm_scale3")
FEATURE_KEYS = VIF_KEYS + ADM_KEYS + ("motion2",)

# score rows: (row name, libvmaf model it is compared with, our/vmaf-torch score used)
SCORE_ROWS = (
    ("vmaf vs float", "vmaf_float_v0.6.1", "vmaf"),
    ("neg vs neg", "vmaf_v0.6.1neg", "neg"),
    ("4k vs 4k", "vmaf_4k_v0.6.1", "4k"),
    ("vmaf vs integer", "vmaf_v0.6.1", "vmaf"),
)
LIBVMAF_RUNS = tuple(dict.fromkeys(model for _, model, _ in SCORE_ROWS))

FEATURE_TARGET = {"vif": 1e-4, "adm": 1e-4, "motion2": 1e-3}
SCORE_MAX_TARGET = 0.005
SCORE_MEAN_TARGET = 5e-4

DISTORTION_NAMES = ("x265", "blur", "noise", "sharpen0.5", "sharpen1.0", "sharpen2.0")

# (photo, width, height, frames, bit depth, distortions)
FULL_SYNTHETIC = (
    ("astronaut", 160, 90, 5, 8, DISTORTION_NAMES),
    ("coffee", 161, 91, 5, 8, DISTORTION_NAMES),
    ("camera", 575, 323, 5, 8, DISTORTION_NAMES),
    ("chelsea", 575, 323, 5, 10, ("x265", "blur", "noise", "sharpen1.0")),
    ("rocket", 1280, 720, 4, 8, ("x265", "blur", "noise", "sharpen1.0")),
    ("hubble_deep_field", 1280, 720, 4, 10, ("x265", "sharpen2.0")),
    ("astronaut", 1920, 1080, 4, 8, ("x265", "noise", "sharpen2.0")),
    ("coffee", 1920, 1080, 3, 10, ("blur",)),
)
QUICK_SYNTHETIC = (
    ("astronaut", 160, 90, 4, 8, ("x265", "noise", "sharpen2.0")),
    ("coffee", 161, 91, 4, 8, ("blur", "sharpen0.5")),
    ("camera", 575, 323, 4, 10, ("x265", "sharpen1.0")),
)
REAL_DISTORTIONS_FULL = ("x265", "blur", "noise", "sharpen2.0")
REAL_DISTORTIONS_QUICK = ("x265",)


@dataclass
class Case:
    """One comparison: reference and distorted luma [N,1,H,W] code values at `bit_depth`."""

    name: str
    ref: torch.Tensor
    dis: torch.Tensor
    bit_depth: int

    @property
    def size(self) -> str:
        return f"{self.ref.shape[-1]}x{self.ref.shape[-2]}"


# a case to evaluate: its label and a function building it (frames are made lazily, one case at a time)
CaseMaker = tuple[str, Callable[[], Case]]


# ---------------------------------------------------------------- distortions

def x265_low_bitrate(ref: torch.Tensor, bit_depth: int) -> torch.Tensor:
    """x265 round trip at a low bitrate (about 0.02 bit per pixel); odd sizes are padded to even."""
    height, width = ref.shape[-2:]
    padded = F.pad(ref, (0, width % 2, 0, height % 2), mode="replicate")
    kbps = max(16, round(padded.shape[-1] * padded.shape[-2] * 25 * 0.02 / 1000))
    return x265_roundtrip(padded, bit_depth, kbps=kbps)[..., :height, :width]


def distortion(name: str) -> Callable[[torch.Tensor, int], torch.Tensor]:
    """The distortion called `name` as a function (ref, bit_depth) -> distorted frames."""
    if name == "x265":
        return x265_low_bitrate
    if name == "blur":
        return lambda ref, bd: ffmpeg_filter_frames(ref, "gblur=sigma=1.2", bd)
    if name == "noise":
        return gaussian_noise
    if name.startswith("sharpen"):
        amount = float(name[len("sharpen"):])
        return lambda ref, bd: ffmpeg_filter_frames(ref, f"unsharp=5:5:{amount}", bd)
    raise ValueError(f"unknown distortion {name!r}")


# ---------------------------------------------------------------- cases

def synthetic_cases(quick: bool) -> Iterator[CaseMaker]:
    """Pans over scikit-image photos, each under its list of distortions."""
    specs = QUICK_SYNTHETIC if quick else FULL_SYNTHETIC
    for i, (photo, width, height, frames, bit_depth, names) in enumerate(specs):
        velocity = ((0.7, 0.3), (-0.45, 0.8), (0.3, -0.6), (1.1, 0.25))[i % 4]
        zoom = 0.004 if i % 3 == 2 else 0.0
        reference = functools.cache(functools.partial(
            pan_clip, photo, width, height, frames, velocity=velocity, zoom_per_frame=zoom,
            bit_depth=bit_depth))
        for name in names:
            yield (f"{photo} {name} {width}x{height} {bit_depth}-bit",
                   functools.partial(distorted_case, f"{photo} {name}", reference, name, bit_depth))


def distorted_case(label: str, reference: Callable[[], torch.Tensor], name: str, bit_depth: int) -> Case:
    """The case of `reference()` under the distortion `name`."""
    ref = reference()
    return Case(label, ref, distortion(name)(ref, bit_depth), bit_depth)


def parse_raw_name(path: Path) -> tuple[tuple[int, int], str] | None:
    """(width, height) and pixel format of a raw .yuv from its name ('_640x360', '_360p', '10le')."""
    size = re.search(r"(\d+)x(\d+)", path.name)
    short = re.search(r"(?<![0-9])(\d{3,4})p(?![0-9])", path.name)  # '360p': 16:9, 640x360
    if size:
        width, height = int(size.group(1)), int(size.group(2))
    elif short:
        height = int(short.group(1))
        width = 2 * round(height * 16 / 9 / 2)
    else:
        return None
    ten_bit = re.search(r"10le|10bit|p10", path.name, re.IGNORECASE)
    return (width, height), "yuv420p10le" if ten_bit else "yuv420p"


def realdata_cases(folder: Path, quick: bool, max_frames: int) -> Iterator[CaseMaker]:
    """Cases from raw yuv420p(10le) files in `folder`, sizes and bit depth read from their names.

    `<src>_hrc00_*` files are references and `<src>_hrcNN_*` their distorted versions (pairs);
    any other clip gets the synthetic distortions.
    """
    pairs: dict[str, dict[str, Path]] = defaultdict(dict)
    singles = []
    for path in sorted(folder.glob("*.yuv")):
        m = re.match(r"(.+?)_hrc(\d+)_", path.name)
        if m:
            pairs[m.group(1)][m.group(2)] = path
        else:
            singles.append(path)

    def load(path: Path) -> tuple[torch.Tensor, int]:
        size, pix_fmt = parse_raw_name(path)
        video = read_luma(path, size, pix_fmt, max_frames=max_frames)
        return video.frames, video.bit_depth

    def pair_case(label: str, ref_path: Path, dis_path: Path) -> Case:
        (ref, bit_depth), (dis, _) = load(ref_path), load(dis_path)
        n = min(len(ref), len(dis))
        return Case(label, ref[:n], dis[:n], bit_depth)

    def single_case(label: str, path: Path, name: str) -> Case:
        ref, bit_depth = load(path)
        return Case(label, ref, distortion(name)(ref, bit_depth), bit_depth)

    for src, versions in sorted(pairs.items()):
        if "00" not in versions:
            print(f"skipping {src}: no reference {src}_hrc00_*", file=sys.stderr)
            continue
        for hrc, dis_path in sorted(versions.items()):
            if hrc != "00":
                label = f"{src} hrc{hrc}"
                yield label, functools.partial(pair_case, label, versions["00"], dis_path)
    for path in singles:
        if parse_raw_name(path) is None:
            print(f"skipping {path.name}: no WxH (or 360p-style) size in its name", file=sys.stderr)
            continue
        for name in REAL_DISTORTIONS_QUICK if quick else REAL_DISTORTIONS_FULL:
            label = f"{path.stem.split('_')[0]} {name}"
            yield label, functools.partial(single_case, label, path, name)


# ---------------------------------------------------------------- scoring

def libvmaf_outputs(case: Case) -> dict[str, dict[str, torch.Tensor]]:
    """libvmaf's per-frame log for every model compared against: {model: {key: [N] float64}}."""
    out = {}
    for model in LIBVMAF_RUNS:
        result = libvmaf_on_tensors(case.ref, case.dis, model, clip=False, bit_depth=case.bit_depth)
        keys = FEATURE_KEYS + ("vmaf",) if model == "vmaf_float_v0.6.1" else ("vmaf",)
        out[model] = {k: result.column(k) for k in keys}
    return out


_OUR_METRICS: dict[tuple[str, int, str], VMAF] = {}


def our_metric(model: str, bit_depth: int, mode: str = "float") -> VMAF:
    """Our VMAF module for `model` at `bit_depth` (unclipped) in `mode`, built once."""
    key = (model, bit_depth, mode)
    if key not in _OUR_METRICS:
        _OUR_METRICS[key] = VMAF(model, clip=False, bit_depth=bit_depth, mode=mode)
    return _OUR_METRICS[key]


@torch.no_grad()
def our_outputs(case: Case, dtype: torch.dtype, mode: str = "float") -> dict[str, torch.Tensor]:
    """Our features and scores (default, NEG and 4K models) per frame in `mode`, as float64 [N]."""
    ref, dis = case.ref.to(dtype), case.dis.to(dtype)
    result = our_metric("vmaf_v0.6.1", case.bit_depth, mode)(ref, dis)
    out = {k: result.features[k] for k in FEATURE_KEYS}
    out["vmaf"] = result.scores
    out["4k"] = our_metric("vmaf_4k_v0.6.1", case.bit_depth, mode).svr(result.features)
    out["neg"] = our_metric("vmaf_v0.6.1neg", case.bit_depth, mode)(ref, dis).scores
    return {k: v.double().reshape(-1) for k, v in out.items()}


@torch.no_grad()
def vmaf_torch_outputs(case: Case, metrics: dict[str, torch.nn.Module]) -> dict[str, torch.Tensor]:
    """vmaf-torch's features and scores per frame (it takes 8-bit scale float32 luma)."""
    scale = float(1 << (case.bit_depth - 8))
    ref, dis = case.ref.float() / scale, case.dis.float() / scale
    main = metrics["vmaf_v0.6.1"]
    adm_scales, adm2 = main.compute_adm_features_and_score(ref, dis)
    vif = main.compute_vif_features(ref, dis)
    motion2 = main.compute_motion2(ref)
    out = {"adm2": adm2, "motion2": motion2}
    out.update({f"adm_scale{i}": adm_scales[:, i] for i in range(4)})
    out.update({f"vif_scale{i}": vif[:, i] for i in range(4)})
    out["vmaf"] = main.predict(adm2, motion2, vif)
    out["4k"] = metrics["vmaf_4k_v0.6.1"].predict(adm2, motion2, vif)
    out["neg"] = metrics["vmaf_v0.6.1neg"](ref, dis)
    return {k: v.double().reshape(-1) for k, v in out.items()}


def abs_diffs(ours: dict[str, torch.Tensor], lib: dict[str, dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """|Δ| per frame of each feature and score row against libvmaf."""
    diffs = {k: (ours[k] - lib["vmaf_float_v0.6.1"][k]).abs() for k in FEATURE_KEYS}
    for row, model, key in SCORE_ROWS:
        diffs[row] = (ours[key] - lib[model]["vmaf"]).abs()
    return diffs


# ---------------------------------------------------------------- report

def case_row(case: Case, lib: dict, ours: dict, theirs: dict | None) -> list[object]:
    """One table row: the case, libvmaf's mean score, and the largest |Δ| of ours and vmaf-torch."""

    def worst(d: dict[str, torch.Tensor], keys: tuple[str, ...]) -> float:
        return max(float(d[k].max()) for k in keys)

    row: list[object] = [case.name, case.size, case.bit_depth, case.ref.shape[0],
                         float(lib["vmaf_float_v0.6.1"]["vmaf"].mean()),
                         worst(ours, ("vmaf vs float",)), worst(ours, VIF_KEYS), worst(ours, ADM_KEYS),
                         worst(ours, ("motion2",))]
    if theirs is not None:
        row += [worst(theirs, ("vmaf vs float",)), worst(theirs, VIF_KEYS), worst(theirs, ADM_KEYS),
                worst(theirs, ("motion2",))]
    return row


def summary_rows(ours: dict[str, list[torch.Tensor]], theirs: dict[str, list[torch.Tensor]] | None,
                 exact: dict[str, list[torch.Tensor]] | None = None) -> list[list[object]]:
    """Max (and, for scores, mean) |Δ| over all frames of all cases: ours (float mode, and exact
    mode against libvmaf's integer models) next to vmaf-torch's."""
    rows = []

    def stats(diffs: dict[str, list[torch.Tensor]] | None, key: str) -> tuple[float | None, float | None]:
        if diffs is None:
            return None, None
        allv = torch.cat(diffs[key])
        return float(allv.max()), float(allv.mean())

    for key in FEATURE_KEYS:
        target = FEATURE_TARGET["motion2" if key == "motion2" else key[:3]]
        rows.append([f"{key} max|Δ| (float extractor)", stats(ours, key)[0], None, stats(theirs, key)[0], target])
    for row, model, _ in SCORE_ROWS:
        targets = (SCORE_MAX_TARGET, SCORE_MEAN_TARGET) if model == "vmaf_float_v0.6.1" else (None, None)
        (o_max, o_mean), (t_max, t_mean) = stats(ours, row), stats(theirs, row)
        e_max, e_mean = stats(exact, row) if model != "vmaf_float_v0.6.1" else (None, None)
        rows.append([f"{row} ({model}) max|Δ|", o_max, e_max, t_max, targets[0]])
        rows.append([f"{row} ({model}) mean|Δ|", o_mean, e_mean, t_mean, targets[1]])
    return rows


def verdicts(ours: dict[str, list[torch.Tensor]]) -> list[tuple[str, bool, float, float]]:
    """(target, passed, value, limit) of each accuracy target."""

    def worst(keys: tuple[str, ...]) -> float:
        return max(float(torch.cat(ours[k]).max()) for k in keys)

    score = torch.cat(ours["vmaf vs float"])
    checks = [
        ("VIF features max|Δ| <= 1e-4", worst(VIF_KEYS), FEATURE_TARGET["vif"]),
        ("ADM features max|Δ| <= 1e-4", worst(ADM_KEYS), FEATURE_TARGET["adm"]),
        ("motion2 max|Δ| <= 1e-3", worst(("motion2",)), FEATURE_TARGET["motion2"]),
        ("score max|Δ| per frame <= 0.005", float(score.max()), SCORE_MAX_TARGET),
        ("score mean|Δ| <= 5e-4", float(score.mean()), SCORE_MEAN_TARGET),
    ]
    return [(name, value <= limit, value, limit) for name, value, limit in checks]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a small subset of the cases")
    parser.add_argument("--realdata", type=Path, metavar="DIR",
                        help="folder of raw .yuv clips named with WxH (e.g. clip_640x360.yuv; "
                             "'10le' in the name marks 10-bit; <src>_hrc00_* / <src>_hrcNN_* are "
                             "reference/distorted pairs)")
    parser.add_argument("--max-frames", type=int, default=5, help="frames read per real clip")
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32",
                        help="dtype of our metric (vmaf-torch always runs in float32)")
    parser.add_argument("--strict", action="store_true",
                        help="exit with status 1 if a target fails or a case cannot be evaluated")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    if args.realdata is not None and not args.realdata.is_dir():
        print(f"--realdata {args.realdata} is not a folder", file=sys.stderr)
        return 2
    dtype = getattr(torch, args.dtype)
    vmaf_torch = import_vmaf_torch()
    their_metrics = None
    if vmaf_torch is None:
        print(VMAF_TORCH_MISSING)
    else:
        their_metrics = {m: vmaf_torch_metric(vmaf_torch, m) for m in ("vmaf_v0.6.1", "vmaf_v0.6.1neg",
                                                                        "vmaf_4k_v0.6.1")}
    cases: Iterator[CaseMaker] = synthetic_cases(args.quick)
    if args.realdata is not None:
        cases = itertools.chain(cases, realdata_cases(args.realdata, args.quick, args.max_frames))

    header = ["case", "size", "bit", "N", "libvmaf", "ours Δvmaf", "ours ΔVIF", "ours ΔADM", "ours Δmot2"]
    if their_metrics is not None:
        header += ["vt Δvmaf", "vt ΔVIF", "vt ΔADM", "vt Δmot2"]
    print(f"our VMAF in {args.dtype}; libvmaf float/NEG/4K/integer models, unclipped; "
          "Δ = max |ours - libvmaf| over the case's frames ('vt' = vmaf-torch)")
    rows: list[list[object]] = []
    ours_all: dict[str, list[torch.Tensor]] = defaultdict(list)
    exact_all: dict[str, list[torch.Tensor]] = defaultdict(list)
    theirs_all: dict[str, list[torch.Tensor]] | None = defaultdict(list) if their_metrics else None
    start = time.perf_counter()
    errors: list[str] = []
    for label, make_case in cases:
        try:
            case = make_case()
            lib = libvmaf_outputs(case)
            ours = abs_diffs(our_outputs(case, dtype), lib)
            exact = abs_diffs(our_outputs(case, dtype, "exact"), lib)
            theirs = abs_diffs(vmaf_torch_outputs(case, their_metrics), lib) if their_metrics else None
        except Exception as exc:  # report the failing case and go on with the others
            errors.append(f"ERROR  {label}: {type(exc).__name__}: {exc}")
            print(errors[-1], file=sys.stderr, flush=True)
            continue
        for k, v in ours.items():
            ours_all[k].append(v)
            exact_all[k].append(exact[k])
        if theirs is not None:
            for k, v in theirs.items():
                theirs_all[k].append(v)
        rows.append(case_row(case, lib, ours, theirs))
        print(f"  done {case.name} {case.size} {case.bit_depth}-bit "
              f"({time.perf_counter() - start:.0f} s)", file=sys.stderr, flush=True)
    print()
    print_table(header, rows)
    print()
    print_table(["summary over all frames", "ours", "ours exact", "vmaf-torch", "target"],
                summary_rows(ours_all, theirs_all, exact_all))
    print()
    n_frames = sum(len(v) for v in ours_all["motion2"])
    print(f"{len(rows)} cases, {n_frames} frames, {time.perf_counter() - start:.0f} s")
    for line in errors:
        print(line)
    if not rows:
        print("FAIL  no case could be evaluated")
        return 1
    results = verdicts(ours_all)
    for name, passed, value, limit in results:
        print(f"{'PASS' if passed else 'FAIL'}  {name}: {value:.2e}")
    if theirs_all is not None:
        print_beats_vmaf_torch(summary_rows(ours_all, theirs_all, exact_all))
    failed = errors or not all(r[1] for r in results)
    return 1 if args.strict and failed else 0


def print_beats_vmaf_torch(rows: list[list[object]]) -> None:
    """One line: on how many summary rows our best |Δ| (float or exact mode) is below vmaf-torch's."""
    lost = [r[0] for r in rows
            if r[3] is not None and min(v for v in (r[1], r[2]) if v is not None) >= r[3]]
    print(f"ours below vmaf-torch on {len(rows) - len(lost)}/{len(rows)} summary rows"
          + (f"; not on: {', '.join(lost)}" if lost else ""))


if __name__ == "__main__":
    sys.exit(main())
