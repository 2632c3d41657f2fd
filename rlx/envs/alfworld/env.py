"""`AlfWorldEnv`: ALFWorld's text games as an rlx `TextEnv`.

The conventions of the agent-RL trainers (verl-agent, the GiGPO reference):
- an episode lasts at most `max_steps` = 50 actions; the 50th action without a win ends it
  with `truncated=True`;
- step reward = `success_reward` (10) x won, on the winning step; 0 otherwise;
- the admissible commands are the engine's, without "help";
- `action_valid`: the action (whitespace-normalised, lowercased) is one of the admissible
  commands. Every action, valid or not, goes to the engine (an unknown one gives "Nothing
  happens.") and counts as a step.

Observations are the engine's text: the intro on reset ("-= Welcome to TextWorld, ALFRED! =-",
the room, "Your task is to: ..."), then each action's feedback. `Task.prompt` is the goal
sentence and `Task.task_type` one of the six short task-type names.

`state_key` (GiGPO's anchor state) = the observation text + a digest of the world state
(the PDDL facts, minus ALFWorld's bookkeeping predicates `checked`/`examined`): "You arrive
at countertop 1. On the countertop 1, you see nothing." reads the same whether or not the
agent holds the apple, and the digest tells those states apart.

The game is deterministic: the `seed` of `reset` is accepted and unused, so G resets of a task
start identically. Reloading a game costs 0.1-1 s (PDDL parsing and grounding); a reset of the
game already loaded in this instance (the G copies of a group, run one after another) skips it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, Protocol

from rlx.config.types import Range
from rlx.envs.alfworld.engine import open_game, require_alfworld
from rlx.envs.base import Task
from rlx.envs.text_env import Observation, Step

BOOKKEEPING_PREDICATES = ("checked", "examined")


class GameSource(Protocol):
    """Where games come from: `OfficialGames` or `GeneratedGames`."""

    def tasks(self, split: Literal["train", "eval"]) -> list[Task]: ...

    def game_file(self, uid: str) -> Path: ...


def normalize_action(action: str) -> str:
    """Lowercase, trim, and collapse runs of whitespace ("Go  to Desk 1 " -> "go to desk 1")."""
    return " ".join(action.lower().split())


def world_digest(facts: Sequence[Any]) -> str:
    """A short stable digest of the PDDL facts, ignoring bookkeeping predicates."""
    kept = sorted(str(f) for f in facts if f.name not in BOOKKEEPING_PREDICATES)
    return hashlib.sha1("\n".join(kept).encode()).hexdigest()[:16]


class AlfWorldEnv:
    """ALFWorld (TextWorld engine) as a multi-turn text environment (satisfies `TextEnv`).

    games: the game source (`OfficialGames` or `GeneratedGames`, by nested `_target_`).
    max_steps: actions per episode before truncation (50 in ALFWorld agent-RL papers).
    success_reward: reward on the winning step (10 in verl-agent; the success rate is
        reported separately from `Step.won`).
    """

    def __init__(self, games: GameSource, max_steps: Annotated[int, Range(ge=1)] = 50,
                 success_reward: float = 10.0):
        self.preflight(games, max_steps)
        self.games = games
        self.max_steps = max_steps
        self.success_reward = success_reward
        self._engine: Any = None
        self._loaded: Path | None = None
        self._task: Task | None = None
        self._admissible: tuple[str, ...] = ()
        self._steps = 0
        self._done = True

    @staticmethod
    def preflight(games: Any, max_steps: int = 50, success_reward: float = 10.0) -> None:
        """The checks the constructor runs, cheap enough for config validation
        (`rlx.config.preflight`): the ALFWorld packages are installed, max_steps >= 1."""
        require_alfworld()
        if max_steps < 1:
            raise ValueError(f"max_steps must be >= 1, got {max_steps}")

    def tasks(self, split: Literal["train", "eval"]) -> Sequence[Task]:
        """The games of `split` as tasks (prompt = goal sentence, task_type = short type)."""
        return self.games.tasks(split)

    def reset(self, task: Task, seed: int = 0) -> Observation:
        """Load `task`'s game (unless loaded already) and start it; the intro observation."""
        game_file = self.games.game_file(task.uid)
        if self._loaded != game_file:
            self.close()
            self._engine = open_game(game_file)
            self._loaded = game_file
        state = self._engine.reset()
        self._task, self._steps, self._done = task, 0, False
        return self._observe(state)

    def step(self, action: str) -> Step:
        """Apply one command; reward `success_reward` on the winning step."""
        if self._done:
            raise RuntimeError("step() after the episode ended: call reset() first")
        command = normalize_action(action)
        valid = command in self._admissible
        state, _, _ = self._engine.step(command)
        self._steps += 1
        won = bool(state["won"])
        truncated = not won and self._steps >= self.max_steps
        self._done = won or truncated
        return Step(
            observation=self._observe(state),
            reward=self.success_reward if won else 0.0,
            terminated=won,
            truncated=truncated,
            action_valid=valid,
            won=won,
            info={"task_type": self._task.task_type, "steps": self._steps, "action": command},
        )

    def close(self) -> None:
        """Drop the loaded game."""
        if self._engine is not None:
            self._engine.close()
        self._engine, self._loaded, self._done = None, None, True

    def _observe(self, state: Any) -> Observation:
        text = state.feedback
        self._admissible = tuple(c for c in state["admissible_commands"] if c != "help")
        return Observation(
            text=text,
            admissible=self._admissible,
            state_key=f"{text}\n#{world_digest(state['_facts'])}",
        )
