"""The curriculum protocol: which tasks to train on next, and what it learned from the last ones.

Two optional extensions, found by duck typing (a curriculum implements the method or not):

- `GroupFilter` (DAPO dynamic sampling): the trainer asks `keep_groups` which rolled-out groups
  to train on, and rolls out more tasks while fewer than `tasks_per_iter` groups are kept,
  for at most `max_rounds` rounds in all (`rlx.train.loop.collect_batch`).
- `TrainingSelector` (D^3S): after advantages, `select` returns which rows and which action
  tokens of the batch the update trains on (`rlx.train.loop.prepare_update`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import torch

from rlx.envs.base import Score, Task


class Curriculum(Protocol):
    def sample(self, n: int) -> list[Task]:
        """The next `n` distinct training tasks."""

    def update(self, tasks: Sequence[Task], scores: Sequence[Score]) -> dict[str, float]:
        """Learn from the scored rollouts of `tasks` (G scores per task, grouped; for agents one
        score per episode); return `curriculum/` metrics. Called once per iteration."""

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


@runtime_checkable
class GroupFilter(Protocol):
    max_rounds: int  # rollout rounds per iteration, the first included

    def keep_groups(self, rewards: torch.Tensor) -> torch.Tensor:
        """rewards (N, G) task reward of each rollout by group -> (N,) bool: train on it."""


@runtime_checkable
class TrainingSelector(Protocol):
    def select(self, advantages: torch.Tensor, action_mask: torch.Tensor, group_ids: torch.Tensor,
               unit_ids: torch.Tensor, entropy: torch.Tensor | None,
               ) -> tuple[torch.Tensor, torch.Tensor, dict[str, float]]:
        """advantages, action_mask, entropy (B, T); group_ids, unit_ids (B,): the rollout each row
        belongs to (single-turn: the row itself; agents: its episode) ->
        (rows (B,) bool, tokens (B, T) bool, `curriculum/` metrics): the rows and action tokens
        to train on."""
