"""One rate-distortion job: (source, filter, bitrate) -> encode with the filter in the graph, decode,
measure against the ORIGINAL source with libvmaf (VMAF, VMAF NEG, PSNR-Y) and our torch VMAF.

Each job lives in `jobs/KEY/` of the output folder; KEY hashes everything that changes its result
(source identity, filter fingerprint, encoder settings, bitrate, frame limit, tool versions). A job
whose `result.json` exists is done: reruns skip it, interrupted runs resume at the missing ones.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shlex
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from torch import nn

from filteropt import __version__
from filteropt.errors import FilteroptError
from filteropt.evaluation.presets import EncoderPreset
from filteropt.evaluation.sources import Source, read_luma_codes
from filteropt.io import write_json_atomic
from filteropt.media.encode import (
    EncoderSettings,
    bitstream_encoder_version,
    decode,
    decode_command,
    encode,
    encode_commands,
    ffmpeg_version,
)
from filteropt.media.ffmpeg import ffmpeg_exe
from filteropt.media.libvmaf import libvmaf_args, run_libvmaf
from filteropt.media.video import VideoFormat, VideoReader
from filteropt.prefilters.spec import (
    IdentityPrefilter,
    build_filter,
    deployed_filter_string,
    parse_spec,
    resolve_spec,
)

# bump when the measurement itself changes: cached results of older versions are recomputed
MEASURE_VERSION = 1
LIBVMAF_MODELS = {"vmaf": "vmaf_v0.6.1", "vmaf_neg": "vmaf_v0.6.1neg"}
RESULT_FILE = "result.json"


@dataclass
class JobFilter:
    """A filter spec as a job uses it: an ffmpeg chain for the encode graph, or a torch module."""

    spec: str
    module: nn.Module
    fingerprint: str

    def vf(self, bit_depth: int) -> str | None:
        """The ffmpeg filter chain of the encode graph (None: no ffmpeg filter)."""
        if isinstance(self.module, IdentityPrefilter):
            return None
        return deployed_filter_string(self.module, bit_depth)

    @property
    def torch_only(self) -> bool:
        """True for CNNs: they reach the encoder through the torch pipe."""
        return not hasattr(self.module, "ffmpeg_filter")

    def describe(self, bit_depth: int) -> str:
        """The filter string for results.csv: the ffmpeg chain, "none", or the CNN's pipe description."""
        if self.torch_only:
            return f"torch pipe ({self.fingerprint})"
        return self.vf(bit_depth) or "none"


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def job_filter(spec: str) -> JobFilter:
    """Build a spec's filter once; its fingerprint is its ffmpeg string, or the CNN file's hash and alpha."""
    module = build_filter(spec).eval()
    if isinstance(module, IdentityPrefilter):
        return JobFilter(spec, module, "none")
    if not hasattr(module, "ffmpeg_filter"):
        resolved = resolve_spec(parse_spec(spec))
        return JobFilter(spec, module, f"cnn sha256:{_file_digest(resolved.path)} alpha={module.alpha!r}")
    return JobFilter(spec, module, deployed_filter_string(module, 8))


@functools.lru_cache(maxsize=1)
def tool_versions() -> dict[str, str]:
    """ffmpeg's version line (libvmaf and the encoders are built into it)."""
    return {"ffmpeg": ffmpeg_version()}


@dataclass
class Job:
    """One encode at one bitrate of one filtered source."""

    source: Source
    filter: JobFilter
    encoder: EncoderPreset
    settings: EncoderSettings
    rate_control: str
    target_kbps: float
    frames: int | None
    torch_vmaf: bool = True  # our VMAF as a cross-check column (about half of a 1080p job's time)

    @functools.cached_property
    def key(self) -> str:
        """Hash of everything that changes this job's result."""
        data = {"source": self.source.identity, "filter": self.filter.fingerprint,
                "encoder": self.encoder.fingerprint(), "preset": self.settings.preset,
                "passes": self.settings.passes, "kbps": self.target_kbps, "frames": self.frames, "torch_vmaf": self.torch_vmaf,
                "measure": MEASURE_VERSION, "models": LIBVMAF_MODELS, "tools": tool_versions()}
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]

    def folder(self, jobs_dir: Path) -> Path:
        return jobs_dir / self.key

    def bitstream(self, jobs_dir: Path) -> Path:
        return self.folder(jobs_dir) / f"stream.{self.encoder.extension}"

    def describe(self) -> str:
        return f"{self.source.name} / {self.filter.spec} / {self.target_kbps:g} kbps"


def cached_result(job: Job, jobs_dir: Path) -> dict | None:
    """The stored result of a finished job, or None."""
    path = job.folder(jobs_dir) / RESULT_FILE
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None  # damaged: recompute
    return data if data.get("job_key") == job.key else None


def dry_run_commands(job: Job, jobs_dir: Path) -> list[str]:
    """The shell commands a job would run (the CNN pipe shown as `filteropt apply` feeding the encoder)."""
    folder = job.folder(jobs_dir)
    stream = job.bitstream(jobs_dir)
    vf = job.filter.vf(job.source.bit_depth)
    stats = folder / "stats.log" if job.settings.passes == 2 else None
    src = job.source.input
    lines = []
    for cmd in encode_commands(None if job.filter.torch_only else src, job.settings, stream, vf=vf,
                               frames=job.frames, stats=stats):
        line = shlex.join(cmd)
        if job.filter.torch_only:
            feed = ["filteropt", "apply", "--filter", job.filter.spec]
            if src.raw_size:
                feed += ["--size", src.raw_size, "--pix-fmt", src.raw_pix_fmt or "yuv420p"]
            line = f"{shlex.join([*feed, str(src.path), '-'])} | {line}"
        lines.append(line)
    decoded = folder / "decoded.y4m"
    lines.append(shlex.join(decode_command(stream, decoded, job.settings.pix_fmt)))
    measure = libvmaf_args(src.input_args(), ["-i", str(decoded)], LIBVMAF_MODELS, folder / "vmaf.json",
                           psnr=True, pix_fmt=job.settings.pix_fmt, frames=job.frames)
    lines.append(shlex.join([ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", *measure]))
    return lines


def _torch_pipe(job: Job):
    """A function giving (format, filtered raw frames) of the job's source, for the encoder's stdin."""
    from filteropt.prefilters.apply import prefetch, torch_frames

    src = job.source

    def frames() -> Iterator[bytes]:
        with VideoReader(src.input.path, src.input.raw_size, src.input.raw_pix_fmt, src.input.raw_fps) as reader:
            for i, frame in enumerate(reader):
                if job.frames is not None and i >= job.frames:
                    return
                yield frame

    def start() -> tuple[VideoFormat, Iterator[bytes]]:
        fmt = VideoFormat(src.width, src.height, src.pix_fmt, src.fps)
        return fmt, torch_frames(job.filter.module, fmt, prefetch(frames()))

    return start


@dataclass
class EncodedJob:
    """A job after its ffmpeg part: the results.csv row without the torch VMAF, and its decoded video."""

    job: Job
    row: dict
    decoded: Path


def encode_and_measure(job: Job, jobs_dir: Path) -> EncodedJob:
    """The ffmpeg part of a job (encode, decode, libvmaf); safe to run in worker threads."""
    folder = job.folder(jobs_dir)
    folder.mkdir(parents=True, exist_ok=True)
    stream = job.bitstream(jobs_dir)
    src = job.source
    t0 = time.perf_counter()
    encode(src.input, job.settings, stream, vf=job.filter.vf(src.bit_depth), frames=job.frames,
           torch_frames=_torch_pipe(job) if job.filter.torch_only else None)
    t1 = time.perf_counter()
    decoded = folder / "decoded.y4m"
    try:
        decode(stream, decoded, job.settings.pix_fmt)
        t2 = time.perf_counter()
        result = run_libvmaf(src.input.input_args(), ["-i", str(decoded)], LIBVMAF_MODELS, psnr=True,
                             pix_fmt=job.settings.pix_fmt, frames=job.frames)
        t3 = time.perf_counter()
    except BaseException:
        if decoded.exists():
            os.unlink(decoded)
        raise
    count = len(result.frames)
    if not count:
        os.unlink(decoded)
        raise FilteroptError(f"{job.describe()}: libvmaf scored no frames")
    mean = lambda key: sum(f[key] for f in result.frames) / count  # noqa: E731
    row = {
        "source": src.name, "filter": job.filter.spec, "encoder": job.encoder.name, "preset": job.settings.preset,
        "rate_control": job.rate_control, "target_kbps": job.target_kbps,
        "actual_kbps": stream.stat().st_size * 8 / 1000 / (count / src.fps_value),
        "vmaf": mean("vmaf"), "vmaf_neg": mean("vmaf_neg"), "psnr_y": mean("psnr_y"), "torch_vmaf": None,
        "frames": count, "width": src.width, "height": src.height, "fps": round(src.fps_value, 3),
        "filter_string": job.filter.describe(src.bit_depth),
        "encoder_version": bitstream_encoder_version(stream), "ffmpeg_version": tool_versions()["ffmpeg"],
        "libvmaf_version": result.version, "filteropt_version": __version__, "job_key": job.key,
        "bitstream": str(stream), "encode_s": round(t1 - t0, 3), "decode_s": round(t2 - t1, 3),
        "libvmaf_s": round(t3 - t2, 3), "torch_vmaf_s": 0.0,
    }
    return EncodedJob(job, row, decoded)


def finish_job(encoded: EncodedJob, jobs_dir: Path) -> dict:
    """The torch part of a job (our VMAF of the decoded video), then its result.json; returns the row.

    Run it on the main thread: torch's small matrix products run about 2x slower in worker threads here.
    """
    from filteropt.vmaf.compare import score_clip
    from filteropt.vmaf.vmaf import VMAF

    job, row = encoded.job, dict(encoded.row)
    try:
        if job.torch_vmaf:
            t0 = time.perf_counter()
            dis_codes, bit_depth = read_luma_codes(encoded.decoded)
            if dis_codes.shape[0] != row["frames"]:
                raise FilteroptError(f"{job.describe()}: libvmaf scored {row['frames']} of {dis_codes.shape[0]} "
                                     "decoded frames")
            ref_codes, _ = read_luma_codes(job.source.input, max_frames=row["frames"])
            ours = score_clip(VMAF("vmaf_v0.6.1", clip=True, bit_depth=bit_depth), ref_codes, dis_codes)
            row["torch_vmaf"] = sum(f["vmaf"] for f in ours) / len(ours)
            row["torch_vmaf_s"] = round(time.perf_counter() - t0, 3)
    finally:
        if encoded.decoded.exists():
            os.unlink(encoded.decoded)
    write_json_atomic(job.folder(jobs_dir) / RESULT_FILE, row)
    return row
