"""The VMAF regression model: libvmaf's nu-SVR (RBF kernel) loaded from its JSON model file."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import torch
from torch import nn

from filteropt.errors import FilteroptError

# model names filteropt ships (JSON files from the ffmpeg-quality-metrics package)
MODEL_NAMES = ("vmaf_v0.6.1", "vmaf_v0.6.1neg", "vmaf_4k_v0.6.1", "vmaf_float_v0.6.1")

# libvmaf's float model has exactly the SVR of vmaf_v0.6.1 (on float features, which we compute)
_MODEL_FILES = {"vmaf_float_v0.6.1": "vmaf_v0.6.1"}

# the features these models use, in libvmaf's log naming
FEATURE_NAMES = ("adm2", "motion2", "vif_scale0", "vif_scale1", "vif_scale2", "vif_scale3")


@dataclass(frozen=True)
class FeatureOptions:
    """Feature-extractor settings a model asks for (the NEG model limits enhancement gain)."""

    adm_enhn_gain_limit: float = 100.0
    vif_enhn_gain_limit: float = 100.0


def model_path(name: str) -> Path:
    """Path of a model JSON: a file path, or a name shipped with ffmpeg-quality-metrics."""
    candidate = Path(name)
    if candidate.suffix == ".json" and candidate.is_file():
        return candidate
    if name not in MODEL_NAMES:
        raise FilteroptError(f"unknown VMAF model {name!r}; use one of {', '.join(MODEL_NAMES)} or a .json path")
    try:
        folder = resources.files("ffmpeg_quality_metrics") / "vmaf_models"
    except ModuleNotFoundError:
        raise FilteroptError("VMAF models not found; run `pip install ffmpeg-quality-metrics`") from None
    return Path(str(folder / f"{_MODEL_FILES.get(name, name)}.json"))


def _feature_base(name: str) -> str:
    """'VMAF_integer_feature_vif_scale0_score' or 'VMAF_feature_adm2_score' -> 'vif_scale0' / 'adm2'."""
    m = re.fullmatch(r"VMAF_(?:integer_)?feature_(\w+?)_score", name)
    if not m:
        raise FilteroptError(f"model feature {name!r} is not one filteropt computes")
    return m.group(1)


def _parse_libsvm(text: str) -> tuple[float, float, list[float], list[list[float]]]:
    """gamma, rho, dual coefficients and support vectors of a libsvm nu-SVR/RBF model text."""
    header, _, body = text.partition("\nSV\n")
    params = dict(line.split(" ", 1) for line in header.strip().splitlines())
    if params.get("svm_type") not in ("nu_svr", "epsilon_svr") or params.get("kernel_type") != "rbf":
        raise FilteroptError("only libsvm nu-SVR models with an RBF kernel are supported")
    coefs, vectors = [], []
    for line in body.strip().splitlines():
        parts = line.split()
        coefs.append(float(parts[0]))
        sv: dict[int, float] = {int(k): float(v) for k, v in (p.split(":") for p in parts[1:])}
        vectors.append([sv.get(i, 0.0) for i in range(1, max(sv, default=0) + 1)])
    width = max(len(v) for v in vectors)
    vectors = [v + [0.0] * (width - len(v)) for v in vectors]
    return float(params["gamma"]), float(params["rho"]), coefs, vectors


class SvrModel(nn.Module):
    """VMAF's score from its six features: normalise, nu-SVR, denormalise; optional clip.

    Parameters are float64 buffers; `forward` takes a dict of per-frame feature tensors [N]
    and returns the unclipped per-frame score [N] in the features' dtype.
    """

    def __init__(self, name: str = "vmaf_v0.6.1"):
        super().__init__()
        path = model_path(name)
        try:
            model_dict = json.loads(path.read_text())["model_dict"]
        except (OSError, ValueError, KeyError) as exc:
            raise FilteroptError(f"cannot load VMAF model {path}: {exc}") from None
        self.name = name if name in MODEL_NAMES else path.stem
        self.feature_names = tuple(_feature_base(n) for n in model_dict["feature_names"])
        if model_dict.get("norm_type", "linear_rescale") != "linear_rescale":
            raise FilteroptError(f"model {path.name}: only linear_rescale normalisation is supported")
        gamma, rho, coefs, vectors = _parse_libsvm(model_dict["model"])
        slopes, intercepts = model_dict["slopes"], model_dict["intercepts"]
        f64 = torch.float64
        self.register_buffer("support_vectors", torch.tensor(vectors, dtype=f64))
        self.register_buffer("coefs", torch.tensor(coefs, dtype=f64))
        self.register_buffer("feature_slopes", torch.tensor(slopes[1:], dtype=f64))
        self.register_buffer("feature_intercepts", torch.tensor(intercepts[1:], dtype=f64))
        self.gamma, self.rho = gamma, rho
        self.score_slope, self.score_intercept = float(slopes[0]), float(intercepts[0])
        clip = model_dict.get("score_clip")
        self.score_clip = (float(clip[0]), float(clip[1])) if clip else None
        self.feature_options = self._feature_options(model_dict.get("feature_opts_dicts"))

    def _feature_options(self, opts: list[dict] | None) -> FeatureOptions:
        adm = vif = 100.0
        for feature, opt in zip(self.feature_names, opts or []):
            if feature.startswith("adm"):
                adm = float(opt.get("adm_enhn_gain_limit", adm))
            if feature.startswith("vif"):
                vif = float(opt.get("vif_enhn_gain_limit", vif))
        return FeatureOptions(adm, vif)

    def forward(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        x = torch.stack([features[n].to(torch.float64) for n in self.feature_names], dim=-1)
        x = x * self.feature_slopes + self.feature_intercepts
        dist2 = (x.unsqueeze(-2) - self.support_vectors).square().sum(-1)
        prediction = torch.exp(-self.gamma * dist2) @ self.coefs - self.rho
        score = (prediction - self.score_intercept) / self.score_slope
        return score.to(features[self.feature_names[0]].dtype)

    def clip(self, score: torch.Tensor) -> torch.Tensor:
        """The score clipped to the model's range ([0, 100])."""
        return score if self.score_clip is None else score.clamp(*self.score_clip)
