"""Uniform sampling: a fresh seeded permutation of the task set per epoch, consumed in order."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from rlx.envs.base import Score, Task
from rlx.utils.seeding import derive_seed


class UniformCurriculum:
    """Every task equally often: epochs over the task set, each in a seeded random order.

    `tasks` and `seed` are given by the trainer (`_partial_` config with no keys).
    """

    def __init__(self, tasks: Sequence[Task], seed: int):
        if not tasks:
            raise ValueError("the environment has no training tasks")
        self.tasks = list(tasks)
        self.seed = seed
        self.epoch = 0
        self.position = 0

    def _order(self, epoch: int) -> list[int]:
        order = list(range(len(self.tasks)))
        random.Random(derive_seed(self.seed, "curriculum", epoch)).shuffle(order)
        return order

    def sample(self, n: int) -> list[Task]:
        picked: list[Task] = []
        while len(picked) < n:
            order = self._order(self.epoch)
            take = order[self.position : self.position + n - len(picked)]
            picked.extend(self.tasks[i] for i in take)
            self.position += len(take)
            if self.position >= len(order):
                self.epoch, self.position = self.epoch + 1, 0
        return picked

    def update(self, tasks: Sequence[Task], scores: Sequence[Score]) -> dict[str, float]:
        return {"curriculum/epoch": float(self.epoch)}

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "position": self.position}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.epoch, self.position = state["epoch"], state["position"]
