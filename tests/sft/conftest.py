import importlib.util
import os

import pytest

# CI installs alfworld and sets RLX_REQUIRE_ALFWORLD=1, so there these tests never skip.
requires_alfworld = pytest.mark.skipif(
    importlib.util.find_spec("alfworld") is None and not os.environ.get("RLX_REQUIRE_ALFWORLD"),
    reason="alfworld is not installed (pip install 'rlx[alfworld]')",
)

# Small generated ALFWorld sets for the SFT tests: 2 train games per task type, 2 held-out games.
ALFWORLD_GAMES = ["env.games.num_train=12", "env.games.num_eval=2", "env.games.train_layouts=6",
                  "env.games.eval_layouts=2", "env.games.workers=2"]


@pytest.fixture(scope="session")
def alfworld_cache(tmp_path_factory):
    """A games folder shared by this session's SFT tests (the games are made on first use)."""
    return tmp_path_factory.mktemp("sft-alfworld-games")
