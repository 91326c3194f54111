"""Shared fixtures: small generated clips of real photographs (no files from outside the project)."""

from __future__ import annotations

import pytest
import torch

from filteropt.datasets.sample import pan_clip


@pytest.fixture(scope="session")
def small_clip() -> torch.Tensor:
    """4 frames of a sub-pixel pan over a real photo, 161x91 (odd size), 8-bit code values."""
    return pan_clip("astronaut", 161, 91, 4, velocity=(0.6, 0.35))


@pytest.fixture(scope="session")
def small_clip10() -> torch.Tensor:
    """3 frames of a 10-bit pan, 128x72."""
    return pan_clip("coffee", 128, 72, 3, velocity=(0.45, -0.3), bit_depth=10)
