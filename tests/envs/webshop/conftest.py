"""The 20 real WebShop records live next to the repository (../shared/data/webshop/);
tests read them from there (or from $RLX_WEBSHOP_SAMPLE) and skip when they are absent."""

import os
from pathlib import Path

import pytest

SAMPLE_DIR = Path(
    os.environ.get("RLX_WEBSHOP_SAMPLE", Path(__file__).resolve().parents[4] / "shared" / "data" / "webshop")
)


@pytest.fixture
def sample_dir() -> Path:
    if not (SAMPLE_DIR / "products_sample.json").is_file():
        pytest.skip(f"the 20 real WebShop records are not at {SAMPLE_DIR} (set RLX_WEBSHOP_SAMPLE)")
    return SAMPLE_DIR
