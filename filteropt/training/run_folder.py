"""A training run's folder: config, CSV log, numbered checkpoints. Every file is written atomically.

Layout: `config.json` (settings, status, last step), `log.csv` (one row per step), `curve.png`,
`checkpoints/step_NNNNNN.pt` (filter, optimizer and sampler state: a resume continues bit for bit),
then the final filter (`filter.json` plus `kernel.npy` / `cnn.pt`) and the alpha sweep files.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import pandas as pd
import torch

from filteropt import __version__
from filteropt.errors import FilteroptError
from filteropt.io import atomic_write, check_writable, write_csv_atomic, write_json_atomic
from filteropt.training.config import CONFIG_FILE, TrainConfig, read_config, resume_differences

CHECKPOINT_FORMAT = "filteropt-train-checkpoint"
LOG_FILE = "log.csv"
LOG_COLUMNS = ("step", "loss", "vmaf", "psnr", "mse", "held_out_vmaf", "held_out_psnr", "seconds")
_CHECKPOINT_NAME = re.compile(r"^step_(\d+)\.pt$")


def check_folder(folder: Path, config: TrainConfig, resume: bool) -> None:
    """Check `folder` can hold this run: new (or empty), or the same run when resuming. Creates nothing."""
    saved = read_config(folder) if folder.is_dir() else None
    if resume:
        if saved is None:
            raise FilteroptError(f"nothing to resume in {folder} (no {CONFIG_FILE}); drop --resume to start a new run")
        diff = resume_differences(saved, config)
        if diff:
            raise FilteroptError(f"--resume: {folder} was trained with other settings: {'; '.join(diff)}; "
                                 "use the same settings or a new --out")
        return
    if saved is not None:
        raise FilteroptError(f"{folder} already holds a training run; add --resume to continue it or choose a new --out")
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise FilteroptError(f"--out {folder} is not an empty folder; choose a new or empty one")
    check_writable(folder)


def create_folder(folder: Path) -> None:
    """Create the run folder and its checkpoints folder (the parent must exist)."""
    try:
        folder.mkdir(parents=False, exist_ok=True)
        (folder / "checkpoints").mkdir(exist_ok=True)
    except OSError as exc:
        raise FilteroptError(f"cannot create run folder {folder}: {exc.strerror}") from None


def write_config(folder: Path, config: TrainConfig, status: str, step: int, extra: dict | None = None) -> None:
    """config.json: the settings plus the run's status ('running', 'finished', 'stopped')."""
    data = {"filteropt": __version__, "torch": torch.__version__, "settings": config.to_json(),
            "status": status, "step": step, **(extra or {})}
    write_json_atomic(folder / CONFIG_FILE, data)


def checkpoint_path(folder: Path, step: int) -> Path:
    return folder / "checkpoints" / f"step_{step:06d}.pt"


def save_checkpoint(folder: Path, step: int, state: dict) -> Path:
    """Write the training state after `step` steps."""
    path = checkpoint_path(folder, step)
    (folder / "checkpoints").mkdir(exist_ok=True)
    with atomic_write(path, "wb") as f:
        torch.save({"format": CHECKPOINT_FORMAT, "step": step, **state}, f)
    return path


def latest_checkpoint(folder: Path) -> tuple[int, dict] | None:
    """(step, state) of the newest readable checkpoint, or None when there is none."""
    found = sorted(((int(m.group(1)), p) for p in (folder / "checkpoints").glob("step_*.pt")
                    if (m := _CHECKPOINT_NAME.match(p.name))), reverse=True)
    for step, path in found:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception:  # a damaged file: fall back to an older one
            continue
        if isinstance(state, dict) and state.get("format") == CHECKPOINT_FORMAT and state.get("step") == step:
            return step, state
    return None


def write_log(folder: Path, rows: list[dict]) -> pd.DataFrame:
    """Rewrite log.csv with `rows` (atomically) and return them as a table."""
    log = pd.DataFrame(rows, columns=list(LOG_COLUMNS))
    write_csv_atomic(log, folder / LOG_FILE)
    return log


def read_log(folder: Path, up_to_step: int) -> list[dict]:
    """The logged rows of steps <= `up_to_step` (for a resume)."""
    path = folder / LOG_FILE
    if not path.exists():
        return []
    try:
        log = pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise FilteroptError(f"{path} is not a readable log ({exc}); it cannot be resumed, start a new --out") from None
    rows = log[log["step"] <= up_to_step].to_dict("records")
    return [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()} for r in rows]
