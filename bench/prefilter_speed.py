"""Frames per second of the deployed prefilters at 1080p on the CPU.

Rows: the exported dense 7x7 `convolution` and `unsharp` 7x7 run by ffmpeg alone, and each CNN's
TorchScript export run by `filteropt apply` in the y4m pipe between two ffmpeg processes
(`ffmpeg -i IN -f yuv4mpegpipe - | filteropt apply --filter cnn:X.ts.pt - - | ffmpeg ... -f null -`).
The input is a natural 1080p yuv420p clip (a pan over a bundled photo). `end-to-end` counts every
second of the command (process start, imports); `steady` divides the extra frames by the extra time
between a short and a full run, which removes start-up costs.

    python bench/prefilter_speed.py [--frames 40] [--threads N]
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

from filteropt.datasets.sample import pan_clip  # noqa: E402
from filteropt.export.ffmpeg_filters import linear_to_ffmpeg, unsharp_to_ffmpeg  # noqa: E402
from filteropt.export.spec_export import export_filter  # noqa: E402
from filteropt.media.ffmpeg import ffmpeg_exe  # noqa: E402
from filteropt.media.video import VideoFormat  # noqa: E402
from filteropt.prefilters.cnn import CNN_ARCHS, ResidualCNN, parameter_count, save_cnn  # noqa: E402

WIDTH, HEIGHT = 1920, 1080


def write_clip(path: Path, frames: int) -> None:
    """A natural 1080p yuv420p y4m clip (luma from a photo pan, neutral chroma)."""
    fmt = VideoFormat(WIDTH, HEIGHT, "yuv420p")
    chroma = np.full(fmt.frame_bytes - fmt.luma_bytes, 128, np.uint8).tobytes()
    with open(path, "wb") as f:
        f.write(fmt.y4m_header())
        for i in range(frames):
            luma = pan_clip("astronaut", WIDTH, HEIGHT, 1, velocity=(1.3, 0.6), start=(0.5 + 0.0007 * i, 0.5))
            f.write(b"FRAME\n" + luma[0, 0].numpy().astype(np.uint8).tobytes() + chroma)


def timed(command: str) -> float:
    """Wall seconds of a shell pipeline (fails loudly)."""
    start = time.perf_counter()
    proc = subprocess.run(["bash", "-o", "pipefail", "-c", command], capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"command failed: {command}\n{proc.stderr.strip()[-2000:]}")
    return elapsed


def rates(build: Callable[[int], str], frames: int, short: int) -> tuple[float, float]:
    """(end-to-end fps of the full run, steady fps from the full run minus a short one)."""
    full = min(timed(build(frames)) for _ in range(2))
    brief = min(timed(build(short)) for _ in range(2))
    steady = (frames - short) / max(full - brief, 1e-9)
    return frames / full, steady


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=40, help="frames in the 1080p clip")
    parser.add_argument("--threads", type=int, help="torch threads inside `filteropt apply` (default: apply's, "
                        "1 in a pipe)")
    args = parser.parse_args()
    ff = shlex.quote(ffmpeg_exe())
    apply_cmd = f"{shlex.quote(sys.executable)} -m filteropt.cli.main apply"
    if args.threads:
        apply_cmd += f" --threads {args.threads}"
    short = max(2, args.frames // 5)
    rows = []
    with tempfile.TemporaryDirectory(prefix="filteropt-speed-") as tmp:
        clip = Path(tmp) / "clip.y4m"
        write_clip(clip, args.frames)

        def source(n: int) -> str:
            return f"{ff} -v error -i {shlex.quote(str(clip))} -frames:v {n}"

        ident = np.zeros((7, 7))
        ident[3, 3] = 1.0
        delta = np.random.default_rng(0).normal(0.0, 0.05, (7, 7))
        dense = linear_to_ffmpeg(ident + delta - delta.mean(), 0.8)
        assert dense.taps.shape == (7, 7)
        filters = [("ffmpeg -vf null (decode only)", "null"), ("convolution 7x7 dense (exported)", dense.filter),
                   ("unsharp 7x7", unsharp_to_ffmpeg(7, 0.8))]
        for name, vf in filters:
            e2e, steady = rates(lambda n, vf=vf: f"{source(n)} -vf {shlex.quote(vf)} -f null -", args.frames, short)
            rows.append((name, "ffmpeg", "-", e2e, steady))
        torch.manual_seed(0)
        for arch in CNN_ARCHS:
            cnn = ResidualCNN(arch)
            with torch.no_grad():
                for p in cnn.parameters():
                    p.normal_(0.0, 0.05)
            ckpt = Path(tmp) / f"{arch}.pt"
            save_cnn(ckpt, cnn)
            ts = export_filter(f"cnn:{ckpt}").torchscript
            spec = shlex.quote(f"cnn:{ts}")

            def pipe(n: int, spec: str = spec) -> str:
                return (f"{source(n)} -f yuv4mpegpipe - | {apply_cmd} --filter {spec} - - | "
                        f"{ff} -v error -f yuv4mpegpipe -i - -f null -")

            e2e, steady = rates(pipe, args.frames, short)
            rows.append((f"{arch} (TorchScript, y4m pipe)", "torch cpu", parameter_count(cnn), e2e, steady))
    load = os.getloadavg()
    print(f"1080p ({WIDTH}x{HEIGHT}) yuv420p, {args.frames} frames, {os.cpu_count()} CPU cores, "
          f"load average {load[0]:.2f} at the end, torch {torch.__version__}, apply threads {args.threads or 1}")
    header = ("filter", "runs in", "params", "fps end-to-end", "fps steady")
    cells = [header] + [(a, b, str(c), f"{d:.1f}", f"{e:.1f}") for a, b, c, d, e in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    for i, row in enumerate(cells):
        print("  ".join(c.ljust(w) if j < 2 else c.rjust(w) for j, (c, w) in enumerate(zip(row, widths))))
        if i == 0:
            print("  ".join("-" * w for w in widths))


if __name__ == "__main__":
    main()
