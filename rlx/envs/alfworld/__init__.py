"""ALFWorld: household tasks in text (TextWorld engine), as a multi-turn `TextEnv`.

Select it with `env=alfworld` (rlx's generated games, offline) or `env=alfworld_official`
(ALFWorld's downloaded json_2.1.1 data). Needs the optional `alfworld` package
(`pip install 'rlx[alfworld]'`); importing this package does not.
"""

from rlx.envs.alfworld.catalogue import TASK_TYPES, TaskType
from rlx.envs.alfworld.env import AlfWorldEnv, normalize_action
from rlx.envs.alfworld.expert import expert_walkthrough, planner_walkthrough
from rlx.envs.alfworld.generated import GeneratedGames
from rlx.envs.alfworld.official import AlfWorldDataError, OfficialGames

__all__ = [
    "TASK_TYPES",
    "AlfWorldDataError",
    "AlfWorldEnv",
    "GeneratedGames",
    "OfficialGames",
    "TaskType",
    "expert_walkthrough",
    "normalize_action",
    "planner_walkthrough",
]
