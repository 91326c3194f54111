"""The allocator setting the filteropt command applies at start."""

import platform

import pytest

from filteropt.memory import keep_freed_memory


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_glibc_accepts_the_settings():
    assert keep_freed_memory() is True
    assert keep_freed_memory() is True  # idempotent
