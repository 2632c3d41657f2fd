"""The multi-turn contract: text observations in, text actions out.

An agent environment (ALFWorld, WebShop, code with feedback) is a plain class selected by
`_target_` that satisfies `TextEnv` structurally. One instance plays one episode at a time;
`rlx.envs.pool.EnvPool` runs many instances in worker processes. Everything crossing the
process boundary (tasks, observations, steps) is a small picklable dataclass.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from rlx.envs.base import Task


@dataclass(frozen=True)
class Observation:
    """What the agent sees after a reset or a step.

    text: the observation text shown to the policy.
    admissible: the valid commands in this state, when the environment lists them
        (ALFWorld, WebShop's clickables); None when it does not (code).
    state_key: a hashable key of the environment state: two episodes of the same task whose
        keys are equal are in the same state (GiGPO's anchor states). Usually the
        observation text, plus whatever hidden state makes two equal texts differ.
    """

    text: str
    admissible: tuple[str, ...] | None = None
    state_key: str = ""


@dataclass(frozen=True)
class Step:
    """The outcome of one action.

    reward: the environment's reward for this step (task reward, before shaping).
    terminated: the episode ended by itself (goal reached, item bought, tests passed, ...).
    truncated: the episode was cut (step limit, timeout, crashed worker).
    action_valid: the action was understood by the environment (the policy's output parsed
        and named an existing command); invalid actions leave the state unchanged.
    won: the task is solved (ALFWorld `won`, WebShop reward == 1, all tests pass).
    info: extra JSON-able facts (score, error text, ...).
    """

    observation: Observation
    reward: float
    terminated: bool
    truncated: bool = False
    action_valid: bool = True
    won: bool = False
    info: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class TextEnv(Protocol):
    """One episode at a time: reset(task, seed) then step(action) until terminated/truncated."""

    def tasks(self, split: Literal["train", "eval"]) -> Sequence[Task]:
        """All tasks of a split (`Task.prompt` = the instruction, `Task.task_type` = the
        category that per-type metrics use); train and eval are disjoint."""
        ...

    def reset(self, task: Task, seed: int) -> Observation:
        """Start an episode of `task`. The same task and seed give the same initial state
        (so G copies of a task start identically for group rollouts)."""
        ...

    def step(self, action: str) -> Step:
        """Apply one action (already extracted from the policy's output)."""
        ...

    def close(self) -> None:
        """Release processes, files, databases."""
        ...
