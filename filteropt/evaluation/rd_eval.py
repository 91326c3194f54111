"""`filteropt rd-eval`: filtered sources through an encoder at a bitrate ladder, scored against the
ORIGINAL source; results.csv, bdrate.csv and RD plots in the output folder.

Output folder: `results.csv` (one row per job of this run only), `bdrate.csv`, `rd_vmaf.png`,
`rd_vmaf_neg.png`, `rd_psnr.png`, `run.json` (the settings), `jobs/KEY/` (bitstream and result of
each job, reused by later runs whose job has the same key) and `sources/` (the rendered sample clips).
"""

from __future__ import annotations

import json
import math
import sys
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import pandas as pd

from filteropt.errors import FilteroptError
from filteropt.evaluation.bdrate import bd_rates
from filteropt.evaluation.jobs import Job, cached_result, dry_run_commands, encode_and_measure, finish_job, job_filter
from filteropt.evaluation.presets import load_preset
from filteropt.evaluation.sources import open_source, sample_sources
from filteropt.io import check_writable, write_csv_atomic, write_json_atomic
from filteropt.plots import rd_curves

RESULT_COLUMNS = ("source", "filter", "encoder", "preset", "rate_control", "target_kbps", "actual_kbps", "vmaf",
                  "vmaf_neg", "psnr_y", "torch_vmaf", "frames", "width", "height", "fps", "filter_string",
                  "encoder_version", "ffmpeg_version", "libvmaf_version", "filteropt_version", "job_key",
                  "bitstream", "encode_s", "decode_s", "libvmaf_s", "torch_vmaf_s")
ANCHOR = "none"
RD_PLOTS = (("vmaf", "rd_vmaf.png"), ("vmaf_neg", "rd_vmaf_neg.png"), ("psnr_y", "rd_psnr.png"))


@dataclass
class RdEvalSettings:
    """What `filteropt rd-eval` was asked to do."""

    filters: list[str]
    sources: list[str] = field(default_factory=list)  # empty: the embedded sample set
    out: str = "rd-eval"
    encoder: str = "x265"
    bitrates: list[float] | None = None  # None: the preset's ladder, scaled by pixel count
    preset: str | None = None
    rate_control: str | None = None
    frames: int | None = None
    size: str | None = None
    pix_fmt: str | None = None
    fps: str | None = None
    jobs: int = 1
    torch_vmaf: bool = True


@dataclass
class RdEvalResult:
    out: Path
    results: pd.DataFrame
    bdrate: pd.DataFrame
    notes: list[str]
    ran: int
    cached: int
    seconds: float


def parse_bitrates(text: str) -> list[float]:
    """'4000,6000,8000' -> [4000.0, 6000.0, 8000.0]; FilteroptError unless all are positive numbers."""
    try:
        values = [float(v) for v in text.replace(" ", "").split(",") if v]
    except ValueError:
        values = []
    if not values or not all(math.isfinite(v) and v > 0 for v in values):
        raise FilteroptError(f"bad --bitrates {text!r}: give positive numbers in kbps, e.g. 4000,6000,8000,9500")
    return sorted(set(values))


def split_specs(items: list[str]) -> list[str]:
    """Filter specs given as separate arguments and/or comma lists, in order, without repeats."""
    specs = [s.strip() for item in items for s in item.split(",") if s.strip()]
    if not specs:
        raise FilteroptError("no filter specs given; e.g. --filters none,unsharp:7:0.5,run:runs/sample-linear7")
    return list(dict.fromkeys(specs))


def write_rd_plots(results: pd.DataFrame, out: Path, title: str) -> None:
    """rd_vmaf.png, rd_vmaf_neg.png and rd_psnr.png of `results` in `out`."""
    for metric, name in RD_PLOTS:
        rd_curves(results, metric, out / name, title)


def plan_jobs(settings: RdEvalSettings, out: Path) -> tuple[list[Job], list[str]]:
    """Check every input and list the jobs (source x filter x bitrate), with notes for the user."""
    if settings.jobs < 1:
        raise FilteroptError(f"-j must be at least 1, not {settings.jobs}")
    if settings.frames is not None and settings.frames < 1:
        raise FilteroptError(f"--frames must be at least 1, not {settings.frames}")
    encoder = load_preset(settings.encoder)
    notes = []
    specs = split_specs(settings.filters)
    if ANCHOR not in specs:
        specs.insert(0, ANCHOR)
        notes.append("added the 'none' filter: BD-rates are measured against the unfiltered encode")
    filters = [job_filter(spec) for spec in specs]
    encoder.settings(1.0, settings.preset, settings.rate_control)  # checks the preset and rate control now
    if settings.sources:
        sources = [open_source(s, settings.size, settings.pix_fmt, settings.fps) for s in settings.sources]
        names = [s.name for s in sources]
        if len(set(names)) < len(names):  # same stem in different folders: tell them apart
            sources = [replace(s, name=f"{s.name}#{i + 1}") for i, s in enumerate(sources)]
    else:
        if settings.size or settings.pix_fmt or settings.fps:
            raise FilteroptError("--size/--pix-fmt/--fps describe raw --source files; give the files too")
        sources = sample_sources(out / "sources")
        notes.append("no --source: using the embedded sample set (" + ", ".join(s.name for s in sources) + ")")
    jobs = []
    for source in sources:
        if settings.bitrates:
            ladder = list(settings.bitrates)
        else:
            ladder, scale = encoder.ladder_for(source.width, source.height)
            if abs(scale - 1) > 1e-9:
                notes.append(f"{source.name} is {source.width}x{source.height}, not {encoder.reference_size[0]}x"
                             f"{encoder.reference_size[1]}: the {encoder.name} ladder is scaled by pixel count "
                             f"(x{scale:.3f}) to {', '.join(f'{b:g}' for b in ladder)} kbps")
        for spec_filter in filters:
            for kbps in ladder:
                jobs.append(Job(source, spec_filter, encoder, encoder.settings(kbps, settings.preset,
                                                                                settings.rate_control),
                                settings.rate_control or encoder.rate_control, kbps, settings.frames,
                                settings.torch_vmaf))
    return jobs, notes


def _settings_record(settings: RdEvalSettings, jobs: list[Job]) -> dict:
    return {"settings": asdict(settings), "job_keys": sorted(j.key for j in jobs)}


def rd_eval(settings: RdEvalSettings, *, dry_run: bool = False, progress: bool = True,
            echo=print) -> RdEvalResult | None:
    """Run (or with `dry_run` only print) the evaluation; results files are written atomically."""
    out = Path(settings.out)
    check_writable(out)
    if out.exists() and not out.is_dir():
        raise FilteroptError(f"--out {out} is a file; give a folder")
    out.mkdir(exist_ok=True)
    jobs, notes = plan_jobs(settings, out)
    for note in notes:
        echo(f"note: {note}")
    jobs_dir = out / "jobs"
    if dry_run:
        for job in jobs:
            cached = " (cached: would be skipped)" if cached_result(job, jobs_dir) else ""
            echo(f"# {job.describe()} [job {job.key}]{cached}")
            for line in dry_run_commands(job, jobs_dir):
                echo(line)
        return None
    record = _settings_record(settings, jobs)
    previous = out / "run.json"
    if previous.exists():
        try:
            old = json.loads(previous.read_text())
        except (OSError, ValueError):
            old = None
        if old != record:
            echo(f"note: {out} holds results of other settings; results.csv will hold only this run's jobs "
                 "(finished jobs with identical settings are reused, the rest recomputed)")
    write_json_atomic(previous, record)

    t0 = time.perf_counter()
    rows: dict[str, dict] = {}
    pending: dict[str, Job] = {}  # by key: the same source given twice is one job
    for job in jobs:
        found = cached_result(job, jobs_dir)
        if found is not None:
            rows[job.key] = found
        else:
            pending.setdefault(job.key, job)
    cached = len(jobs) - len(pending)
    failures = _run_jobs(list(pending.values()), jobs_dir, settings.jobs, rows, progress, cached, len(jobs))
    seconds = time.perf_counter() - t0
    done = [rows[j.key] for j in jobs if j.key in rows]
    results = pd.DataFrame(done, columns=list(RESULT_COLUMNS))
    write_csv_atomic(results, out / "results.csv")
    bdrate = bd_rates(results, ANCHOR) if len(results) else pd.DataFrame()
    write_csv_atomic(bdrate, out / "bdrate.csv")
    if len(results):
        write_rd_plots(results, out, f"{jobs[0].encoder.name} {jobs[0].settings.preset}, {jobs[0].rate_control}: "
                                     "quality against the original source")
    if failures:
        first = failures[0]
        raise FilteroptError(f"{len(failures)} of {len(jobs)} jobs failed (first: {first[0].describe()}: {first[1]}); "
                             f"the other results are in {out}")
    return RdEvalResult(out, results, bdrate, notes, len(pending), cached, seconds)


def _run_jobs(pending: list[Job], jobs_dir: Path, workers: int, rows: dict[str, dict], progress: bool,
              cached: int, total: int) -> list[tuple[Job, str]]:
    """Run jobs with a progress bar counting them; returns the failures.

    `workers` threads run the ffmpeg part of the jobs (encode, decode, libvmaf); this thread runs
    the torch VMAF of each finished one meanwhile, so the next encodes overlap it.
    """
    from tqdm import tqdm

    failures: list[tuple[Job, str]] = []
    bar = tqdm(total=total, initial=cached, desc="rd-eval jobs", unit="job", disable=not progress, file=sys.stderr,
               dynamic_ncols=True)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures: dict[Future, Job] = {}
        queue = list(pending)

        def fill() -> None:
            while queue and len(futures) < workers:
                job = queue.pop(0)
                futures[pool.submit(encode_and_measure, job, jobs_dir)] = job

        try:
            fill()
            while futures:
                finished, _ = wait(futures, return_when=FIRST_COMPLETED)
                for future in finished:
                    job = futures.pop(future)
                    fill()  # keep the workers busy while this thread scores
                    try:
                        rows[job.key] = finish_job(future.result(), jobs_dir)
                    except FilteroptError as exc:
                        failures.append((job, str(exc)))
                    bar.update(1)
        except KeyboardInterrupt:
            queue.clear()
            for future in futures:
                future.cancel()
            raise
        finally:
            bar.close()
    return failures
