"""The curriculum protocol: which tasks to train on next, and what it learned from the last ones."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from rlx.envs.base import Score, Task


class Curriculum(Protocol):
    def sample(self, n: int) -> list[Task]:
        """The next `n` distinct training tasks."""

    def update(self, tasks: Sequence[Task], scores: Sequence[Score]) -> dict[str, float]:
        """Learn from the scored rollouts of `tasks` (G scores per task, grouped); return metrics."""

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...
