"""Speed and memory of filteropt's VMAF next to vmaf-torch and libvmaf, on CPU, as one table.

At 576x324 and 1920x1080 (a pan over a photo, with noise): libvmaf through ffmpeg (integer
and float models), and vmaf-torch and ours, forward and forward+backward (w.r.t. the distorted
frames) on one frame pair and on a few frames. Our forward without autograd is compiled with
numba; the 'ours pytorch' rows show the PyTorch forward (what training runs before its backward)
for comparison. Each implementation is timed in its own fresh
process (--rounds of them, alternating); peak memory of forward+backward of one 1080p pair,
each in a fresh process too (peak RSS minus the RSS after imports and inputs).

    python bench/vmaf_speed.py [--quick] [--allocator keep|default] [--stat median|min] [--rounds 2]

--allocator keep (the default) keeps freed memory for reuse, as the filteropt command does;
default leaves glibc's settings. Either applies to every torch implementation alike.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

# _common first: it makes filteropt importable from a checkout
from _common import VMAF_TORCH_MISSING, import_vmaf_torch, print_table, use_all_cores, vmaf_torch_metric

from filteropt.datasets.sample import pan_clip
from filteropt.media import ffmpeg_exe, write_y4m
from filteropt.memory import keep_freed_memory
from filteropt.vmaf import VMAF
from filteropt.vmaf.vmaf import NUMBA_ENV

SIZES = ((576, 324), (1920, 1080))
MODEL = "vmaf_float_v0.6.1"
PEAK_SIZE = (1920, 1080)

ScoreFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Stat = Callable[[list[float]], float]
STATS: dict[str, Stat] = {"median": statistics.median, "min": min}
ALLOCATORS = ("keep", "default")
# ours: float mode (forward compiled with numba); ours pytorch: the same with the PyTorch forward
IMPLS = ("ours", "ours pytorch", "ours exact")


def set_allocator(allocator: str) -> bool:
    """Apply `allocator` to this process; True if freed memory is now kept for reuse.

    glibc's defaults return large freed blocks to the OS, and torch code that frees and
    re-allocates frame-sized buffers every call then page-faults them in again.
    """
    return allocator == "keep" and keep_freed_memory()


def noisy_pan(width: int, height: int, frames: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A pan over a photo (reference) and a noisy copy (distorted), 8-bit codes [N,1,H,W] float32."""
    ref = pan_clip("astronaut", width, height, frames, velocity=(0.7, 0.3))
    gen = torch.Generator().manual_seed(seed)
    dis = (ref + 4.0 * torch.randn(ref.shape, generator=gen)).round().clamp(0, 255)
    return ref, dis


# ---------------------------------------------------------------- libvmaf

def command_seconds(cmd: list[str], repeats: int, stat: Stat = statistics.median) -> float:
    """Wall time (`stat` of `repeats` runs) of running `cmd`, which must succeed."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return stat(times)


def libvmaf_ms_per_frame(ref: torch.Tensor, dis: torch.Tensor, threads: int, repeats: int,
                         stat: Stat = statistics.median) -> dict[str, tuple[float, float]]:
    """{model: (wall ms/frame, ms/frame net of decoding)} of ffmpeg's libvmaf on a y4m pair.

    The net time subtracts an ffmpeg run that reads and decodes both inputs without comparing.
    """
    frames = ref.shape[0]
    out = {}
    with tempfile.TemporaryDirectory(prefix="vmaf-speed-") as tmp:
        ref_path, dis_path = os.path.join(tmp, "ref.y4m"), os.path.join(tmp, "dis.y4m")
        write_y4m(ref_path, ref)
        write_y4m(dis_path, dis)
        base = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-i", dis_path, "-i", ref_path]
        overhead = command_seconds(base + ["-map", "0:v", "-map", "1:v", "-f", "null", "-"], repeats, stat)
        for model in ("vmaf_v0.6.1", "vmaf_float_v0.6.1"):
            graph = f"[0:v][1:v]libvmaf=model=version={model}:n_threads={threads}"
            wall = command_seconds(base + ["-lavfi", graph, "-f", "null", "-"], repeats, stat)
            out[model] = (1000 * wall / frames, 1000 * max(wall - overhead, 0.0) / frames)
    return out


# ---------------------------------------------------------------- torch implementations

def torch_metric(impl: str) -> ScoreFn:
    """Per-frame score function f(ref, dis) -> scores of `impl` (one of IMPLS or 'vmaf-torch').

    'ours' forward without autograd is the compiled (numba) pass; 'ours pytorch' turns it off
    (in its own child process), so that row shows the PyTorch forward that training runs.
    """
    if impl == "vmaf-torch":
        return vmaf_torch_metric(import_vmaf_torch())
    if impl == "ours pytorch":
        os.environ[NUMBA_ENV] = "0"
    metric = VMAF(MODEL, clip=False, mode="exact" if impl == "ours exact" else "float")
    return lambda ref, dis: metric(ref, dis).scores


def forward_backward(fn: ScoreFn, ref: torch.Tensor, dis: torch.Tensor) -> torch.Tensor:
    """Scores and their gradient w.r.t. the distorted frames (returned)."""
    dis = dis.detach().requires_grad_(True)
    fn(ref, dis).sum().backward()
    return dis.grad


def run_ms(run: Callable[[], object], repeats: int, budget_s: float, stat: Stat = statistics.median,
           warmup: int = 1) -> float:
    """Wall ms (`stat` of the runs) of `run()` after `warmup` calls; stops (after 2 runs) past `budget_s`."""
    for _ in range(warmup):
        run()
    times: list[float] = []
    while len(times) < repeats:
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
        if len(times) >= 2 and sum(times) > budget_s:
            break
    return 1000 * stat(times)


def time_torch(fn: ScoreFn, ref: torch.Tensor, dis: torch.Tensor, repeats: int, budget_s: float,
               stat: Stat = statistics.median, warmup: int = 1) -> tuple[float, float]:
    """(forward ms/frame without autograd, forward+backward ms/frame)."""
    frames = ref.shape[0]

    def forward() -> None:
        with torch.no_grad():
            fn(ref, dis)

    fwd = run_ms(forward, repeats, budget_s, stat, warmup)
    fwd_bwd = run_ms(lambda: forward_backward(fn, ref, dis), repeats, budget_s, stat, warmup)
    return fwd / frames, fwd_bwd / frames


# ---------------------------------------------------------------- timing (child process per implementation)

def time_in_this_process(impl: str, inputs: Path, args: argparse.Namespace) -> None:
    """Child side: print the timings of `impl` on every saved pair as one JSON line."""
    use_all_cores()
    set_allocator(args.allocator)
    pairs = torch.load(inputs)
    fn = torch_metric(impl)
    timings = {}
    for size, (ref, dis) in pairs.items():
        for frames in (1, args.frames):
            r, d = ref[:frames].contiguous(), dis[:frames].contiguous()
            timings[f"{size} {frames}"] = time_torch(fn, r, d, args.repeats, args.budget, STATS[args.stat],
                                                    args.warmup)
    print("TIMINGS " + json.dumps(timings))


def time_in_child(impl: str, inputs: Path, args: argparse.Namespace) -> dict[tuple[str, int], tuple[float, float]]:
    """{(size, frames): (forward, forward+backward ms/frame)} of `impl`, timed in a fresh process.

    A fresh process per implementation: glibc's allocator thresholds and the memory it holds are
    process-wide, so one implementation's allocations would otherwise change the next one's speed.
    """
    cmd = [sys.executable, __file__, "--time-child", impl, str(inputs), "--allocator", args.allocator,
           "--frames", str(args.frames), "--repeats", str(args.repeats), "--budget", str(args.budget),
           "--warmup", str(args.warmup), "--stat", args.stat]
    proc = subprocess.run(cmd, check=True, capture_output=True, text=True)
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("TIMINGS "))
    timings = json.loads(line[len("TIMINGS "):])
    return {(key.split()[0], int(key.split()[1])): tuple(value) for key, value in timings.items()}


# ---------------------------------------------------------------- peak memory (child process)

def _proc_status_kib(field: str) -> int | None:
    """A memory field of /proc/self/status (Linux) in KiB, or None where there is none."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def reset_peak_rss() -> bool:
    """Reset this process's peak RSS to its current RSS (Linux clear_refs); False if unsupported."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def current_rss_bytes() -> int:
    """Resident memory of this process now (Linux); elsewhere the peak so far."""
    kib = _proc_status_kib("VmRSS")
    return kib * 1024 if kib is not None else ru_maxrss_bytes()


def ru_maxrss_bytes() -> int:
    """Peak RSS from getrusage (KiB on Linux, bytes on macOS).

    On Linux a child inherits its parent's peak through fork+exec, so prefer `peak_rss_bytes`.
    """
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def peak_rss_bytes() -> int:
    """Peak RSS of this process: VmHWM (resettable) on Linux, else ru_maxrss."""
    kib = _proc_status_kib("VmHWM")
    return kib * 1024 if kib is not None else ru_maxrss_bytes()


def measure_peak_in_this_process(impl: str, inputs: Path, allocator: str) -> None:
    """Child side: print the peak RSS (MiB) of one forward+backward above the RSS after set-up."""
    use_all_cores()
    set_allocator(allocator)
    ref, dis = torch.load(inputs)
    fn = torch_metric(impl)
    gc.collect()
    baseline = current_rss_bytes()
    # imports and set-up may have peaked higher: restart the peak from here where possible
    reset_peak_rss()
    forward_backward(fn, ref, dis)
    print(f"PEAK_MIB {(peak_rss_bytes() - baseline) / 2**20:.1f}")


def peak_memory_mib(impl: str, ref: torch.Tensor, dis: torch.Tensor, allocator: str) -> float:
    """Peak memory above baseline of forward+backward of `impl`, measured in a fresh process."""
    with tempfile.TemporaryDirectory(prefix="vmaf-mem-") as tmp:
        inputs = Path(tmp) / "pair.pt"
        torch.save((ref, dis), inputs)
        proc = subprocess.run([sys.executable, __file__, "--peak-child", impl, str(inputs), "--allocator", allocator],
                              check=True, capture_output=True, text=True)
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("PEAK_MIB"))
    return float(line.split()[1])


# ---------------------------------------------------------------- main


def ratio_line(label: str, ratios: dict[str, float], target: float, higher_is_better: bool = True) -> str:
    """'PASS label: a 9.1x, b 8.4x (target >= 8x)' over the given ratios."""
    ok = all((r >= target) if higher_is_better else (r <= target) for r in ratios.values())
    parts = ", ".join(f"{k} {v:.2f}x" for k, v in ratios.items())
    sign = ">=" if higher_is_better else "<="
    return f"{'PASS' if ok else 'FAIL'}  {label}: {parts} (target {sign} {target:g}x)"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer frames and repeats")
    parser.add_argument("--frames", type=int, default=4, help="frames of the multi-frame torch runs")
    parser.add_argument("--libvmaf-frames", type=int, default=20, help="frames of the libvmaf runs")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per measurement (see --stat)")
    parser.add_argument("--budget", type=float, default=20.0,
                        help="seconds after which a measurement stops repeating (at least 2 runs)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs before each torch measurement")
    parser.add_argument("--stat", choices=tuple(STATS), default="median",
                        help="statistic of the timed runs (min is steadier on a busy machine)")
    parser.add_argument("--allocator", choices=ALLOCATORS, default="keep",
                        help="keep: freed memory kept for reuse, as the filteropt command sets it (default); "
                             "default: glibc's own settings. Applies to every torch implementation alike")
    parser.add_argument("--rounds", type=int, default=2,
                        help="rounds of timing children, the implementations alternating (the --stat of the rounds)")
    parser.add_argument("--peak-child", nargs=2, metavar=("IMPL", "INPUTS"), help=argparse.SUPPRESS)
    parser.add_argument("--time-child", nargs=2, metavar=("IMPL", "INPUTS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.quick:
        args.frames, args.libvmaf_frames, args.repeats, args.budget, args.rounds = 3, 8, 2, 5.0, 1
    return args


def torch_timings(impls: list[str], pairs: dict[str, tuple[torch.Tensor, torch.Tensor]],
                  args: argparse.Namespace) -> dict[tuple[str, str, int], tuple[float, float]]:
    """{(impl, size, frames): (forward, forward+backward ms/frame)}: --rounds rounds of one fresh
    process per implementation, alternating, so a slow spell of a shared machine hits all alike."""
    stat = STATS[args.stat]
    runs: dict[tuple[str, str, int], list[tuple[float, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="vmaf-speed-") as tmp:
        inputs = Path(tmp) / "pairs.pt"
        torch.save(pairs, inputs)
        for round_ in range(args.rounds):
            for impl in impls:
                for (size, frames), timing in time_in_child(impl, inputs, args).items():
                    runs.setdefault((impl, size, frames), []).append(timing)
                print(f"  timed {impl} (round {round_ + 1} of {args.rounds})", file=sys.stderr, flush=True)
    return {key: (stat([t[0] for t in ts]), stat([t[1] for t in ts])) for key, ts in runs.items()}


def main() -> int:
    args = parse_args()
    if args.peak_child:
        measure_peak_in_this_process(args.peak_child[0], Path(args.peak_child[1]), args.allocator)
        return 0
    if args.time_child:
        time_in_this_process(args.time_child[0], Path(args.time_child[1]), args)
        return 0
    cores = use_all_cores()
    kept = set_allocator(args.allocator)
    stat = STATS[args.stat]
    load_start = os.getloadavg()[0]
    impls = list(IMPLS) + (["vmaf-torch"] if import_vmaf_torch() is not None else [])
    if "vmaf-torch" not in impls:
        print(VMAF_TORCH_MISSING)
    print(f"CPU, {cores} threads, torch {torch.__version__}, float32; our model {MODEL}; "
          f"libvmaf on {args.libvmaf_frames} frames, torch on 1 and {args.frames} frames, each implementation "
          f"in its own process, {args.rounds} round(s); ms/frame = {args.stat} wall time / frames; freed memory "
          f"{'kept for reuse (as the filteropt command)' if kept else 'returned to the OS (glibc default)'}")
    pairs, lib_rows, lib_float = {}, {}, {}
    for width, height in SIZES:
        size = f"{width}x{height}"
        ref, dis = noisy_pan(width, height, max(args.libvmaf_frames, args.frames))
        lib = libvmaf_ms_per_frame(ref[:args.libvmaf_frames], dis[:args.libvmaf_frames], cores,
                                   max(1, min(args.repeats, 3)), stat)
        lib_rows[size] = [[f"libvmaf {model} (wall {wall:.1f} ms/f)", size, args.libvmaf_frames, net, None, None]
                          for model, (wall, net) in lib.items()]
        lib_float[size] = lib["vmaf_float_v0.6.1"][1]
        pairs[size] = (ref[:args.frames].clone(), dis[:args.frames].clone())
    timings = torch_timings(impls, pairs, args)
    peak_size = f"{PEAK_SIZE[0]}x{PEAK_SIZE[1]}"
    ref, dis = pairs[peak_size]
    peaks = {impl: peak_memory_mib(impl, ref[:1].contiguous(), dis[:1].contiguous(), args.allocator)
             for impl in impls if impl != "ours pytorch"}  # the same backward as ours
    rows: list[list[object]] = []
    for size in pairs:
        rows += lib_rows[size]
        for frames in (1, args.frames):
            for impl in impls:
                f, fb = timings[impl, size, frames]
                peak = peaks.get(impl) if size == peak_size and frames == 1 else None
                rows.append([impl, size, frames, f, fb, peak])
    print()
    print_table(["impl", "size", "frames", "fwd ms/frame", "fwd+bwd ms/frame", "peak MiB"], rows)
    print()
    print("libvmaf fwd ms/frame: wall time minus an ffmpeg run that only decodes both inputs")
    print(f"load average (1 min) at start {load_start:.2f}, at end {os.getloadavg()[0]:.2f} "
          f"on {cores} cores: a load above the core count means other processes skewed the timings")
    fwd = {k: v[0] for k, v in timings.items()}
    fwd_bwd = {k: v[1] for k, v in timings.items()}
    keys = [k for k in fwd if k[0] == "ours"]  # the float mode carries the targets
    print(ratio_line("ours forward faster than libvmaf float",
                     {f"{s} x{n}": lib_float[s] / fwd[o, s, n] for o, s, n in keys if n > 1}, 1.0))
    if "vmaf-torch" in impls:
        print(ratio_line("ours forward vs vmaf-torch",
                         {f"{s} x{n}": fwd["vmaf-torch", s, n] / fwd[o, s, n] for o, s, n in keys}, 8.0))
        print(ratio_line("ours forward+backward vs vmaf-torch",
                         {f"{s} x{n}": fwd_bwd["vmaf-torch", s, n] / fwd_bwd[o, s, n] for o, s, n in keys},
                         6.0))
        print(ratio_line(f"ours peak memory / vmaf-torch's ({peak_size} pair)",
                         {"ratio": peaks["ours"] / peaks["vmaf-torch"]}, 0.5, higher_is_better=False))
        slow = ", ".join(f"{s} x{n} {fwd['vmaf-torch', s, n] / fwd['ours pytorch', s, n]:.2f}x" for _, s, n in keys)
        print(f"      (no target) ours pytorch forward vs vmaf-torch: {slow}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
