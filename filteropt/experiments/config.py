"""Experiment configs: TOML files in experiments/, checked into an ExperimentConfig.

Keys (all tables optional except `kind`):
    kind = "visual" | "tradeoff" | "rd" | "cnn_vs_linear"
    description = "one line"
    [data]      dataset = "sample" | "netflix" | "folder"; data_root = "PATH" (or --data-root)
    [train]     filters = ["linear7", ...]; seed = 0; steps = N (default: each filter's)
    [visual]    unsharp_alpha, learned_alpha, crop (pixels), zoom
    [tradeoff]  alphas = "0:1:0.05"; baseline = "unsharp:7:1"; frames = 16
    [rd]        filters = [SPEC, ...] ("{linear7}" stands for the trained filter's run folder,
                e.g. "{linear7}:0.25"); candidates = {FAMILY = [alphas]} (best alpha by VMAF BD-rate;
                FAMILY is "unsharp:7" or "{linear7}"); encoder, bitrates, preset, rate_control,
                frames, jobs
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from filteropt.errors import FilteroptError
from filteropt.io import read_toml
from filteropt.training.filters import TRAINABLE_FILTERS

KINDS = ("visual", "tradeoff", "rd", "cnn_vs_linear")


@dataclass
class ExperimentConfig:
    """A parsed experiment file."""

    name: str
    kind: str
    description: str
    dataset: str = "sample"
    data_root: str | None = None
    train_filters: list[str] = field(default_factory=lambda: ["linear7"])
    seed: int = 0
    steps: int | None = None
    visual: dict = field(default_factory=dict)
    tradeoff: dict = field(default_factory=dict)
    rd: dict = field(default_factory=dict)


def load_experiment(path: str | Path) -> ExperimentConfig:
    """Read and check an experiment TOML file; FilteroptError naming the problem."""
    path = Path(path)
    if not path.is_file():
        raise FilteroptError(f"experiment file {path} does not exist; see experiments/ for the configs")
    data = read_toml(path, "experiment file")
    kind = data.get("kind")
    if kind not in KINDS:
        raise FilteroptError(f"experiment file {path}: kind must be one of {', '.join(KINDS)}, not {kind!r}")
    dataset = dict(data.get("data", {}))
    train = dict(data.get("train", {}))
    filters = list(train.get("filters", ["linear7"]))
    unknown = [f for f in filters if f not in TRAINABLE_FILTERS]
    if unknown:
        raise FilteroptError(f"experiment file {path}: unknown filters to train {unknown}; "
                             f"choose from {', '.join(TRAINABLE_FILTERS)}")
    return ExperimentConfig(path.stem, kind, str(data.get("description", "")), str(dataset.get("dataset", "sample")),
                            dataset.get("data_root") or None, filters, int(train.get("seed", 0)),
                            int(train["steps"]) if "steps" in train else None, dict(data.get("visual", {})),
                            dict(data.get("tradeoff", {})), dict(data.get("rd", {})))
