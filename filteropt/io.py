"""Writing result files safely: write to a temporary file beside the target, then rename."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from filteropt.errors import FilteroptError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


def check_writable(path: str | Path) -> None:
    """Raise a clear error now, before long work, if `path` cannot be written later."""
    folder = Path(path).parent
    if not folder.is_dir():
        raise FilteroptError(f"cannot write {path}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise FilteroptError(f"cannot write {path}: folder {folder} is not writable")


def temp_file_beside(path: str | Path) -> tuple[int, str]:
    """(fd, name) of a new temporary file in `path`'s folder, with the permissions of a normal file."""
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    except OSError as exc:
        raise FilteroptError(f"cannot write {path}: {exc.strerror}; choose a writable location") from None
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes files private; results are ordinary files
    return fd, tmp


@contextlib.contextmanager
def atomic_write(path: str | Path, mode: str = "w") -> Iterator[IO]:
    """Open a temporary file beside `path`; on success rename it onto `path`, else remove it."""
    fd, tmp = temp_file_beside(path)
    try:
        with os.fdopen(fd, mode) as f:
            yield f
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_json_atomic(path: str | Path, data: object) -> None:
    """Write `data` as indented JSON, atomically."""
    with atomic_write(path) as f:
        f.write(json.dumps(data, indent=2) + "\n")


def write_csv_atomic(table, path: str | Path, float_format: str | None = None) -> None:
    """Write a pandas table as CSV (no index), atomically."""
    with atomic_write(path) as f:
        table.to_csv(f, index=False, float_format=float_format)


def read_toml(path: str | Path, what: str) -> dict:
    """The parsed TOML file; FilteroptError '<what> <path> is not valid TOML (...)' when unreadable."""
    try:
        return tomllib.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise FilteroptError(f"{what} {path} is not valid TOML ({exc})") from None
