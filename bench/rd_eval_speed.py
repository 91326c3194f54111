"""Wall time of `filteropt rd-eval` on the embedded 1080p clip, split into encode, decode, metrics and
our own overhead, beside the same ffmpeg commands run by hand.

4 bitrates (the x265 ladder) x 3 filters (none, unsharp 7x7, a 7x7 sharpening kernel), `-j 1`, in a
fresh output folder (nothing cached). Run 1 (`--no-torch-vmaf`) gives the split: encode, decode and
libvmaf are the ffmpeg processes each job runs; overhead is everything else (planning, probing,
reading results, bitstream version, CSV, BD-rate and plots). Run 2 (the default) adds our torch VMAF
cross-check, which runs on the main thread while the next job encodes; its extra wall time is shown.
The "by hand" row runs one job's three ffmpeg commands (as `--dry-run` prints them), without filteropt.

    python bench/rd_eval_speed.py [--frames 60] [--preset medium]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

from _common import print_table  # noqa: E402

from filteropt.evaluation.rd_eval import RdEvalSettings, rd_eval  # noqa: E402
from filteropt.evaluation.sources import sample_sources  # noqa: E402
from filteropt.memory import keep_freed_memory  # noqa: E402


def sharpening_kernel(path: Path) -> None:
    """A 7x7 kernel: identity plus 0.6 times (identity - 7x7 box)."""
    k = -0.6 * np.ones((7, 7)) / 49
    k[3, 3] += 1.6
    np.save(path, k)


def by_hand(commands: list[str]) -> float:
    """Seconds to run shell commands one after another."""
    t0 = time.perf_counter()
    for cmd in commands:
        subprocess.run(cmd, shell=True, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=None, help="frames of the 1080p clip (default: all 60)")
    parser.add_argument("--preset", default="medium")
    args = parser.parse_args()
    keep_freed_memory()  # as the filteropt command does
    with tempfile.TemporaryDirectory(prefix="filteropt-bench-rd-") as tmp:
        tmp = Path(tmp)
        game = sample_sources(tmp / "sources")[0]
        sharpening_kernel(tmp / "sharpen.npy")
        filters = ["none", "unsharp:7:0.5", f"kernel:{tmp / 'sharpen.npy'}"]
        walls = {}
        for name, torch_vmaf in (("split", False), ("with torch VMAF", True)):
            settings = RdEvalSettings(filters=filters, sources=[str(game.input.path)], out=str(tmp / name),
                                      preset=args.preset, frames=args.frames, jobs=1, torch_vmaf=torch_vmaf)
            t0 = time.perf_counter()
            result = rd_eval(settings, progress=True, echo=lambda *_: None)
            walls[name] = time.perf_counter() - t0
            if name == "split":
                r = result.results
            else:
                torch_sum = result.results["torch_vmaf_s"].sum()
        wall = walls["split"]
        parts = {"encode": r["encode_s"].sum(), "decode": r["decode_s"].sum(), "libvmaf": r["libvmaf_s"].sum()}
        overhead = wall - sum(parts.values())

        # the first job's commands by hand, as --dry-run prints them (decoded file and log in tmp)
        lines = []
        rd_eval(RdEvalSettings(filters=["none"], sources=[str(game.input.path)], out=str(tmp / "dry"),
                               preset=args.preset, frames=args.frames, bitrates=[4000]),
                dry_run=True, echo=lines.append)
        commands = [ln for ln in lines if not ln.startswith(("#", "note"))]
        (tmp / "dry" / "jobs").mkdir(parents=True, exist_ok=True)
        for line in lines:
            if line.startswith("#"):
                key = line.split("[job ")[1].split("]")[0]
                (tmp / "dry" / "jobs" / key).mkdir(parents=True, exist_ok=True)
        hand = by_hand(commands)
        job0 = r[(r["filter"] == "none") & (r["target_kbps"] == 4000)].iloc[0]

    n = len(r)
    print(f"\nrd-eval on the sample 1080p clip ({int(r['frames'].iloc[0])} frames), {n} jobs "
          f"(4 bitrates x 3 filters), x265 {args.preset}, -j 1\n")
    rows = [[name, round(sec, 1), round(100 * sec / wall, 1)] for name, sec in parts.items()]
    rows.append(["our overhead", round(overhead, 1), round(100 * overhead / wall, 1)])
    rows.append(["total (wall), --no-torch-vmaf", round(wall, 1), 100.0])
    print_table(["part", "seconds", "% of wall"], rows)
    extra = walls["with torch VMAF"] - wall
    print(f"\ndefault run with the torch VMAF cross-check: {walls['with torch VMAF']:.1f} s wall "
          f"(+{extra:.1f} s, +{100 * extra / wall:.1f} %); the cross-check itself took {torch_sum:.1f} s, "
          "partly overlapped with the next encodes")
    ours = job0["encode_s"] + job0["decode_s"] + job0["libvmaf_s"]
    print()
    print_table(["one job (none, 4000 kbps)", "seconds"],
                [["filteropt job: encode + decode + libvmaf", round(ours, 2)],
                 ["the same 3 ffmpeg commands by hand", round(hand, 2)]])
    print("\nactual bitrates (kbps) against targets, none: "
          + ", ".join(f"{t:g} -> {a:.0f} ({100 * (a / t - 1):+.1f} %)"
                      for t, a in r[r["filter"] == "none"][["target_kbps", "actual_kbps"]].itertuples(index=False)))


if __name__ == "__main__":
    main()
