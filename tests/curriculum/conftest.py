"""The tiny policy for the PCL tests (built once per session, offline)."""

import pytest

from rlx.models.tiny import build_tiny


@pytest.fixture(scope="session")
def tiny(tmp_path_factory):
    return build_tiny(cache_dir=str(tmp_path_factory.mktemp("rlx_cache")), seed=0)
