"""Solvability checks for ALFWorld games: ALFWorld's handcoded expert, or Fast Downward.

`expert_walkthrough` plays a game with `alfworld.agents.expert.HandCodedTWAgent`, the expert
that `AlfredTWEnv` attaches in train mode with `training_method: dagger`, and returns the
commands that won. Two differences from how ALFWorld drives it:

- alfworld 0.4.x renamed the "put" command to "move", but the expert's state tracker still
  waits for "put" to learn that it let go of an object; on pick_two_obj_and_place it then
  never looks for the second object (it wins about 5 seeds in 20). We forward each "move"
  to the tracker as "put", which is what the tracker was written for.
- ALFWorld's wrapper spends the first step on "look"; the expert reads the intro directly.

The expert draws from Python's global `random`; it is seeded per call and the caller's
global random state is restored afterwards.

`planner_walkthrough` asks Fast Downward (through TextWorld's `policy_commands`) for a plan
once at reset and replays it: optimal, independent of the expert's heuristics, 0.4-1.1 s.
"""

from __future__ import annotations

import random
from pathlib import Path

from rlx.envs.alfworld.engine import open_game, require_alfworld


def _tracker_command(command: str) -> str:
    """The command as the expert's tracker expects it ("move x to y" -> "put x to y")."""
    return "put " + command[len("move ") :] if command.startswith("move ") else command


def expert_walkthrough(game_file: str | Path, max_steps: int = 50, seed: int = 0) -> list[str] | None:
    """Play `game_file` with ALFWorld's handcoded expert; the winning commands, or None.

    The game's `traj_data.json` (next to it) gives the expert its task parameters.
    None when the expert gives up, times out, or has not won after `max_steps` commands.
    """
    require_alfworld()
    from alfworld.agents.expert import HandCodedAgentFailed, HandCodedAgentTimeout, HandCodedTWAgent

    env = open_game(game_file, facts=True)
    saved = random.getstate()
    random.seed(seed)
    try:
        state = env.reset()
        expert = HandCodedTWAgent(max_steps=max_steps + 1)
        expert.reset(str(game_file))
        expert.observe(state.feedback)
        commands: list[str] = []
        last = ""
        for _ in range(max_steps):
            command = expert.act(state, 0, state["won"], _tracker_command(last))
            state, _, _ = env.step(command)
            commands.append(command)
            if state["won"]:
                return commands
            last = command
        return None
    except (HandCodedAgentFailed, HandCodedAgentTimeout):
        return None
    finally:
        random.setstate(saved)
        env.close()


def planner_walkthrough(game_file: str | Path, max_steps: int = 50) -> list[str] | None:
    """A Fast Downward plan for `game_file`, replayed to check it wins; None if not."""
    require_alfworld()
    import textworld
    from alfworld.agents.environment.alfred_tw_env import AlfredDemangler
    from textworld.envs import PddlEnv

    infos = textworld.EnvInfos(admissible_commands=True, won=True, policy_commands=True)
    env = AlfredDemangler(PddlEnv(infos), shuffle=False)
    try:
        env.load(str(game_file))
        plan = list(env.reset()["policy_commands"] or [])
        env.request_infos.policy_commands = False  # it would replan at every step otherwise
        if not plan or len(plan) > max_steps:
            return None
        for command in plan:
            state, _, _ = env.step(command)
        return plan if state["won"] else None
    finally:
        env.close()
