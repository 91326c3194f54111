"""Encoder presets: the declarative TOML files in `encoders/` (or a path), checked and turned into settings."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

from filteropt.errors import FilteroptError
from filteropt.io import read_toml
from filteropt.media.encode import EncoderSettings
from filteropt.media.frames import parse_size

PRESETS_ENV = "FILTEROPT_ENCODERS"
RATE_CONTROLS = ("abr", "2pass")
_REQUIRED = ("name", "codec", "format", "extension", "pix_fmt", "preset", "presets", "bitrates_kbps",
             "reference_size", "rate_control", "params_option")


def presets_folder() -> Path:
    """Where named presets live: $FILTEROPT_ENCODERS, else `encoders/` of the source tree."""
    override = os.environ.get(PRESETS_ENV)
    return Path(override) if override else Path(__file__).resolve().parents[2] / "encoders"


def available_presets() -> list[str]:
    """Names of the presets in the presets folder."""
    folder = presets_folder()
    return sorted(p.stem for p in folder.glob("*.toml")) if folder.is_dir() else []


@dataclass(frozen=True)
class EncoderPreset:
    """A parsed preset file (see encoders/README.md for the keys)."""

    name: str
    codec: str
    format: str
    extension: str
    pix_fmt: str
    preset: str
    presets: tuple[str, ...]
    bitrates_kbps: tuple[float, ...]
    reference_size: tuple[int, int]
    rate_control: str
    params_option: str
    params: dict[str, str]
    first_pass_params: dict[str, str]
    second_pass_params: dict[str, str]
    source: Path

    def settings(self, kbps: float, preset: str | None = None, rate_control: str | None = None) -> EncoderSettings:
        """The encoder settings of one job."""
        preset = preset or self.preset
        rate_control = rate_control or self.rate_control
        check_choice(preset, self.presets, f"preset for {self.name}")
        check_choice(rate_control, RATE_CONTROLS, "rate control")
        passes = 2 if rate_control == "2pass" else 1
        return EncoderSettings(self.codec, self.format, self.pix_fmt, preset, float(kbps), self.params_option,
                               dict(self.params), passes, (self.first_pass_params, self.second_pass_params))

    def ladder_for(self, width: int, height: int) -> tuple[list[float], float]:
        """The default ladder scaled to a source's pixel count, and the scale factor (1 at the reference size)."""
        scale = (width * height) / (self.reference_size[0] * self.reference_size[1])
        return [round(b * scale, 1) for b in self.bitrates_kbps], scale

    def fingerprint(self) -> dict:
        """What of the preset changes an encode's result (for job keys)."""
        return {"codec": self.codec, "format": self.format, "pix_fmt": self.pix_fmt, "params_option": self.params_option,
                "params": self.params, "first_pass_params": self.first_pass_params,
                "second_pass_params": self.second_pass_params}


def check_choice(value: str, allowed: tuple[str, ...] | list[str], what: str) -> None:
    if value not in allowed:
        raise FilteroptError(f"unknown {what} {value!r}; choose from {', '.join(allowed)}")


def _strings(table: object, what: str, path: Path) -> dict[str, str]:
    if not isinstance(table, dict):
        raise FilteroptError(f"encoder preset {path}: [{what}] must be a table of key = value")
    return {str(k): str(v) for k, v in table.items()}


def load_preset(name_or_path: str) -> EncoderPreset:
    """A preset by name (encoders/NAME.toml) or by path to a .toml file; FilteroptError when unusable."""
    path = Path(name_or_path)
    if path.suffix.lower() != ".toml":
        path = presets_folder() / f"{name_or_path}.toml"
        if not path.is_file():
            names = available_presets()
            raise FilteroptError(f"unknown encoder {name_or_path!r}; choose from {', '.join(names) or '(none found)'} "
                                 "or give a preset .toml file")
    elif not path.is_file():
        raise FilteroptError(f"encoder preset {path} does not exist")
    data = read_toml(path, "encoder preset")
    missing = [k for k in _REQUIRED if k not in data]
    if missing:
        raise FilteroptError(f"encoder preset {path} lacks {', '.join(missing)}; see encoders/README.md")
    try:
        ladder = tuple(float(b) for b in data["bitrates_kbps"])
        presets = tuple(str(p) for p in data["presets"])
        size = parse_size(str(data["reference_size"]))
    except (TypeError, ValueError, FilteroptError) as exc:
        raise FilteroptError(f"encoder preset {path}: bad bitrates_kbps, presets or reference_size ({exc})") from None
    if not ladder or not all(math.isfinite(b) and b > 0 for b in ladder):
        raise FilteroptError(f"encoder preset {path}: bitrates_kbps must be positive numbers")
    preset = EncoderPreset(
        str(data["name"]), str(data["codec"]), str(data["format"]), str(data["extension"]), str(data["pix_fmt"]),
        str(data["preset"]), presets, ladder, size, str(data["rate_control"]), str(data["params_option"]),
        _strings(data.get("params", {}), "params", path),
        _strings(data.get("first_pass_params", {}), "first_pass_params", path),
        _strings(data.get("second_pass_params", {}), "second_pass_params", path), path)
    check_choice(preset.preset, preset.presets, f"default preset in {path}")
    check_choice(preset.rate_control, RATE_CONTROLS, f"rate_control in {path}")
    return preset
