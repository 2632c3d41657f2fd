"""ALFWorld expert demonstrations for SFT (`trainer=sft`, `experiment=sft_alfworld`).

`ExpertDemos` replays a winning command list in the game:
- `solver=walkthrough`: the list stored in the game file (rlx's generated games record the
  solver's winning commands there when they are made; ALFWorld's generated games carry one
  too), falling back to ALFWorld's handcoded expert when the file has none;
- `solver=expert`: ALFWorld's handcoded expert (`expert_walkthrough`, with rlx's fix for
  pick_two_obj_and_place): it explores receptacles until it finds the objects, so its
  demonstrations show a strategy that also works where the objects are unknown;
- `solver=planner`: Fast Downward's optimal plan (`planner_walkthrough`): it knows where
  everything is, so it walks straight to the objects.

The reason (think text) is one short sentence per command verb, so the policy learns the
`<think>` / `<action>` format without long generations.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Literal

from rlx.envs.alfworld.expert import expert_walkthrough, planner_walkthrough
from rlx.envs.base import Task
from rlx.envs.text_env import Observation
from rlx.sft.demos import DemoAction

REASONS = {
    "go": "I go there to find or use what the task needs.",
    "open": "It is closed, so I open it to look inside.",
    "close": "I close it again.",
    "take": "This is the object the task needs, so I pick it up.",
    "move": "I have the object, so I put it where the task asks.",
    "put": "I have the object, so I put it where the task asks.",
    "heat": "The task needs it hot, so I heat it here.",
    "cool": "The task needs it cool, so I cool it here.",
    "clean": "The task needs it clean, so I clean it here.",
    "use": "I turn on the light to look at the object.",
    "examine": "I look at it closely.",
    "look": "I look around.",
    "inventory": "I check what I carry.",
}


def reason_for(command: str) -> str:
    """The think text for `command` (by its first word)."""
    return REASONS.get(command.split(" ", 1)[0], "This brings me closer to finishing the task.")


class ExpertDemos:
    """Demonstrations by replaying a winning ALFWorld command list (see the module doc).

    solver: walkthrough | expert | planner. max_steps: the expert's / planner's step limit.
    seed: the handcoded expert's random seed.
    """

    def __init__(self, solver: Literal["walkthrough", "expert", "planner"] = "walkthrough",
                 max_steps: int = 50, seed: int = 0):
        self.solver, self.max_steps, self.seed = solver, max_steps, seed

    def commands(self, env, task: Task) -> list[str]:
        """The command list to replay for `task` ([] when the solver finds none)."""
        game_file = env.games.game_file(task.uid)
        if self.solver == "walkthrough":
            stored = json.loads(game_file.read_text()).get("walkthrough")
            if stored:
                return list(stored)
        if self.solver == "planner":
            return planner_walkthrough(game_file, self.max_steps) or []
        return expert_walkthrough(game_file, self.max_steps, self.seed) or []

    def policy(self, env, task: Task) -> Callable[[Observation], DemoAction | None]:
        remaining = iter(self.commands(env, task))

        def act(observation: Observation) -> DemoAction | None:
            command = next(remaining, None)
            return None if command is None else DemoAction(command, reason_for(command))

        return act
