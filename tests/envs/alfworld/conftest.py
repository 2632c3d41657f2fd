import importlib.util
import json
import os

import pytest

from rlx.envs.base import Task

# CI installs alfworld and sets RLX_REQUIRE_ALFWORLD=1, so there these tests never skip.
requires_alfworld = pytest.mark.skipif(
    importlib.util.find_spec("alfworld") is None and not os.environ.get("RLX_REQUIRE_ALFWORLD"),
    reason="alfworld is not installed (pip install 'rlx[alfworld]')",
)


@pytest.fixture(scope="session")
def generated(tmp_path_factory):
    """One generated game per task type and split, made once per test session (~15 s)."""
    from rlx.envs.alfworld import GeneratedGames

    games = GeneratedGames(num_train=6, num_eval=6, cache_dir=str(tmp_path_factory.mktemp("alfworld")), workers=2)
    games.tasks("train"), games.tasks("eval")
    return games


def walkthrough(games, task: Task) -> list[str]:
    """The winning commands stored in a game file."""
    return json.loads(games.game_file(task.uid).read_text())["walkthrough"]
