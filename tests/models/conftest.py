"""A per-session cache dir so the tests never read or write the user's ~/.cache/rlx."""

import pytest


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> str:
    return str(tmp_path_factory.mktemp("rlx_cache"))
