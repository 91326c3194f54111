"""The Netflix public VMAF dataset (NFLX) from a folder the user downloaded: ref/ and dis/ raw yuv clips."""

from __future__ import annotations

import ast
import os
from pathlib import Path

from filteropt.datasets.clips import ClipSet, raw_yuv_clip
from filteropt.errors import FilteroptError

NETFLIX_ROOT_ENV = "FILTEROPT_NETFLIX_ROOT"
DESCRIPTOR_NAME = "NFLX_dataset_public.py"
_DESCRIPTOR_KEYS = ("dataset_name", "yuv_fmt", "width", "height", "ref_videos", "dis_videos")


def _missing(why: str) -> FilteroptError:
    """The error for a missing dataset, saying where it comes from and what to do instead."""
    return FilteroptError(
        f"{why}: the netflix dataset is the Netflix public VMAF dataset (NFLX, folders ref/ and dis/ of "
        f"1920x1080 yuv420p clips); download it from Netflix's vmaf resources and pass --data-root DIR "
        f"or set {NETFLIX_ROOT_ENV}, or use --dataset sample"
    )


def parse_descriptor(path: str | Path) -> dict:
    """The plain assignments of an NFLX dataset descriptor, read with ast (the file is never executed)."""
    path = Path(path)
    try:
        tree = ast.parse(path.read_text(errors="replace"), filename=path.name)
    except (OSError, SyntaxError, ValueError) as exc:
        raise FilteroptError(f"cannot parse dataset descriptor {path.name}: {exc}") from None
    values: dict = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
            if name in _DESCRIPTOR_KEYS:
                try:
                    values[name] = ast.literal_eval(node.value)
                except ValueError:
                    raise FilteroptError(
                        f"dataset descriptor {path.name}: {name} is not a plain value (line {node.lineno})"
                    ) from None
    return values


def _index_by_name(root: Path) -> dict[str, Path]:
    """Every file under `root` by its file name (the first found wins)."""
    found: dict[str, Path] = {}
    for p in sorted(root.rglob("*")):
        if p.is_file():
            found.setdefault(p.name, p)
    return found


def netflix_root(data_root: str | Path | None = None) -> Path:
    """The dataset folder: `data_root`, else $FILTEROPT_NETFLIX_ROOT; checked to hold ref/."""
    root = data_root or os.environ.get(NETFLIX_ROOT_ENV)
    if not root:
        raise _missing(f"no dataset folder given (--data-root or {NETFLIX_ROOT_ENV})")
    root = Path(root)
    if not root.is_dir():
        raise _missing(f"dataset folder {root} does not exist")
    if not (root / "ref").is_dir():
        raise _missing(f"dataset folder {root} has no ref/ folder")
    return root


def load_netflix(data_root: str | Path | None = None) -> ClipSet:
    """The reference clips of the NFLX dataset (raw yuv, read lazily); distorted entries in `extras`."""
    root = netflix_root(data_root)
    descriptor = next(iter(sorted(root.rglob(DESCRIPTOR_NAME))), None)
    width, height, pix_fmt = 1920, 1080, "yuv420p"
    dis_videos: list[dict] = []
    if descriptor is not None:
        desc = parse_descriptor(descriptor)
        width, height = int(desc.get("width", width)), int(desc.get("height", height))
        pix_fmt = {"yuv420p": "yuv420p", "yuv420p10le": "yuv420p10le"}.get(desc.get("yuv_fmt", pix_fmt), None)
        if pix_fmt is None:
            raise FilteroptError(f"dataset descriptor: unsupported yuv_fmt {desc.get('yuv_fmt')!r}")
        files = _index_by_name(root)
        ref_paths = []
        for entry in desc.get("ref_videos", []):
            name = Path(str(entry.get("path", ""))).name
            if name not in files:
                raise _missing(f"reference clip {name} of {DESCRIPTOR_NAME} is not under {root}")
            ref_paths.append(files[name])
        for entry in desc.get("dis_videos", []):
            name = Path(str(entry.get("path", ""))).name
            dis_videos.append({**entry, "path": files.get(name)})
    else:
        ref_paths = sorted(p for p in (root / "ref").iterdir() if p.suffix.lower() == ".yuv")
    if not ref_paths:
        raise _missing(f"no reference .yuv clips in {root / 'ref'}")
    clips = [raw_yuv_clip(p, width, height, pix_fmt) for p in ref_paths]
    return ClipSet("netflix", clips, {"dis_videos": dis_videos, "root": root})
