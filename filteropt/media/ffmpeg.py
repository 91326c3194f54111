"""Locate the ffmpeg binary, check its capabilities and run it."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from collections.abc import Sequence

from filteropt.errors import FilteroptError

FFMPEG_ENV = "FILTEROPT_FFMPEG"


@functools.lru_cache(maxsize=None)
def ffmpeg_exe() -> str:
    """Path of the ffmpeg to use: $FILTEROPT_FFMPEG if set, else the one bundled by imageio-ffmpeg."""
    override = os.environ.get(FFMPEG_ENV)
    if override:
        path = shutil.which(override) or (override if os.path.isfile(override) else None)
        if not path or not os.access(path, os.X_OK):
            raise FilteroptError(
                f"{FFMPEG_ENV}={override} is not an executable ffmpeg; point it to one or unset it "
                "to use the bundled ffmpeg"
            )
        return path
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except Exception as exc:  # the package raises RuntimeError when its binary is missing
        raise FilteroptError(
            f"no ffmpeg found ({exc}); run `pip install imageio-ffmpeg` or set {FFMPEG_ENV}"
        ) from None


@functools.lru_cache(maxsize=None)
def _capabilities(exe: str) -> tuple[frozenset[str], frozenset[str]]:
    """Names of the filters and encoders this ffmpeg binary has."""
    filters = run_ffmpeg(["-filters"], exe=exe, quiet=False).stdout.decode(errors="replace")
    encoders = run_ffmpeg(["-encoders"], exe=exe, quiet=False).stdout.decode(errors="replace")

    def names(text: str) -> frozenset[str]:
        return frozenset(line.split()[1] for line in text.splitlines() if len(line.split()) > 2)

    return names(filters), names(encoders)


def require_filters(*filters: str, encoders: Sequence[str] = ()) -> None:
    """Raise a clear error unless ffmpeg has the given filters (e.g. libvmaf) and encoders."""
    exe = ffmpeg_exe()
    have_filters, have_encoders = _capabilities(exe)
    missing = [f for f in filters if f not in have_filters]
    missing += [e for e in encoders if e not in have_encoders]
    if missing:
        raise FilteroptError(
            f"ffmpeg at {exe} lacks {', '.join(missing)}; use an ffmpeg built with "
            f"--enable-libvmaf --enable-libx265 (the bundled imageio-ffmpeg one has both) via {FFMPEG_ENV}"
        )


def last_line(stderr: bytes) -> str | None:
    """The last non-empty line a process wrote to stderr, stripped (None when it wrote nothing)."""
    lines = [ln.strip() for ln in stderr.decode(errors="replace").splitlines() if ln.strip()]
    return lines[-1] if lines else None


def run_ffmpeg(
    args: Sequence[str],
    *,
    exe: str | None = None,
    input: bytes | None = None,
    quiet: bool = True,
) -> subprocess.CompletedProcess:
    """Run ffmpeg with `args`, capturing output; raise FilteroptError with its last error line on failure."""
    cmd = [exe or ffmpeg_exe(), "-hide_banner", "-nostdin"]
    if quiet:
        cmd += ["-loglevel", "error"]
    cmd += list(args)
    proc = subprocess.run(cmd, input=input, capture_output=True)
    if proc.returncode != 0:
        detail = last_line(proc.stderr) or f"exit code {proc.returncode}"
        raise FilteroptError(f"ffmpeg failed: {detail}")
    return proc
