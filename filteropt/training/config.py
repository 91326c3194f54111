"""The settings of a training run, their defaults and checks, and the resume-compatibility rule."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from filteropt.datasets.registry import DATASETS
from filteropt.errors import FilteroptError
from filteropt.training.filters import trainable_filter
from filteropt.training.objective import TRAIN_MODELS
from filteropt.vmaf.vmaf import MIN_SIZE

OPTIMIZERS = ("sgd", "adam")
CONFIG_FILE = "config.json"
# settings a resumed run may change: the number of steps (the schedule is constant, so more steps
# continue the same run) and where the progress goes
RESUMABLE_CHANGES = ("steps",)


@dataclass
class TrainConfig:
    """Everything that decides a run's result. `steps` and `lr` of None take the filter's defaults."""

    dataset: str = "sample"
    data_root: str | None = None
    size: str | None = None
    pix_fmt: str | None = None
    filter: str = "linear7"
    steps: int | None = None
    lr: float | None = None
    optimizer: str = "sgd"
    momentum: float = 0.9
    seed: int = 0
    batch: int = 8
    crop: int = 128
    frames: int = 3
    model: str = "vmaf_v0.6.1"
    mse_weight: float = 0.0
    checkpoint_every: int = 250
    held_out_every: int = 4

    def resolved(self) -> TrainConfig:
        """A copy with defaults filled in and every setting checked (FilteroptError on bad values)."""
        if self.dataset not in DATASETS:
            raise FilteroptError(f"unknown dataset {self.dataset!r}; choose from {', '.join(DATASETS)}")
        choice = trainable_filter(self.filter)
        if self.optimizer not in OPTIMIZERS:
            raise FilteroptError(f"unknown optimizer {self.optimizer!r}; choose from {', '.join(OPTIMIZERS)}")
        if self.model not in TRAIN_MODELS:
            raise FilteroptError(f"unknown training model {self.model!r}; choose from {', '.join(TRAIN_MODELS)}")
        steps = choice.steps if self.steps is None else self.steps
        lr = (choice.lr_sgd if self.optimizer == "sgd" else choice.lr_adam) if self.lr is None else self.lr
        out = TrainConfig(**{**asdict(self), "steps": steps, "lr": lr})
        for name, low in (("steps", 1), ("batch", 1), ("checkpoint_every", 1), ("held_out_every", 2)):
            if int(getattr(out, name)) < low:
                raise FilteroptError(f"--{name.replace('_', '-')} must be at least {low}")
        if not (math.isfinite(out.lr) and out.lr > 0):
            raise FilteroptError(f"--lr must be a positive number, not {out.lr}")
        if not 0 <= out.momentum < 1:
            raise FilteroptError(f"--momentum must be in [0, 1), not {out.momentum}")
        if not (math.isfinite(out.mse_weight) and out.mse_weight >= 0):
            raise FilteroptError(f"--mse-weight must be zero or positive, not {out.mse_weight}")
        if out.crop < MIN_SIZE:
            raise FilteroptError(f"--crop {out.crop} is too small for VMAF; use at least {MIN_SIZE} (default 128)")
        if out.frames < 3 or out.frames % 2 == 0:
            raise FilteroptError(f"--frames must be odd and at least 3 (motion needs the frames around the "
                                 f"scored middle one), not {out.frames}")
        return out

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> TrainConfig:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


def read_config(folder: Path) -> TrainConfig | None:
    """The config saved in a run folder, or None when there is none."""
    path = folder / CONFIG_FILE
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text())
        return TrainConfig.from_json(data["settings"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise FilteroptError(f"{path} is not a readable run config ({exc}); choose another --out") from None


def resume_differences(saved: TrainConfig, wanted: TrainConfig) -> list[str]:
    """Settings (other than RESUMABLE_CHANGES) that differ between a saved run and a resume request."""
    a, b = saved.to_json(), wanted.to_json()
    return [f"{k} ({a[k]!r} there, {b[k]!r} now)" for k in a if k not in RESUMABLE_CHANGES and a[k] != b[k]]
