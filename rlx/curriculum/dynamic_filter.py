"""DAPO dynamic sampling (Yu et al. 2025, arXiv 2503.14476, Sec. 3.2): train only on groups
whose rewards are not all equal, rolling out more tasks until the batch is full.

A group whose G rewards are all equal (all correct, all wrong, or any constant) has zero
group-relative advantage: it adds no policy gradient and only dilutes the ones that do. DAPO
keeps sampling until the batch holds `tasks_per_iter` groups with

    0 < |{ i : correct(o_i) }| < G        (here, in general: max_i r_i > min_i r_i)

The trainer (`rlx.train.loop.collect_batch`) rolls out `tasks_per_iter` tasks per round, keeps
the groups `keep_groups` accepts, and stops after `max_rounds` rounds (DAPO's
`max_num_gen_batches`), training on what it has. Tasks are drawn like `uniform`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from rlx.curriculum.uniform import UniformCurriculum
from rlx.envs.base import Score, Task


def informative_groups(rewards: torch.Tensor) -> torch.Tensor:
    """rewards (N, G) -> (N,) bool: the group's rewards are not all equal."""
    return rewards.amax(dim=1) > rewards.amin(dim=1)


class DynamicFilterCurriculum:
    """Uniform task order; groups with zero reward variance are dropped and refilled.

    tasks, seed: given by the trainer. max_rounds: rollout rounds per iteration, the first
    included (1 = filter without refilling).
    """

    def __init__(self, tasks: Sequence[Task], seed: int, max_rounds: int = 3):
        if max_rounds < 1:
            raise ValueError(f"curriculum.max_rounds must be >= 1, got {max_rounds}")
        self.order = UniformCurriculum(tasks, seed)
        self.max_rounds = max_rounds
        self.filtered = {"groups": 0, "zero_variance": 0, "rounds": 0}  # this iteration

    def sample(self, n: int) -> list[Task]:
        return self.order.sample(n)

    def keep_groups(self, rewards: torch.Tensor) -> torch.Tensor:
        keep = informative_groups(rewards)
        self.filtered["groups"] += len(keep)
        self.filtered["zero_variance"] += int((~keep).sum())
        self.filtered["rounds"] += 1
        return keep

    def update(self, tasks: Sequence[Task], scores: Sequence[Score]) -> dict[str, float]:
        """Metrics of this iteration's filtering (every group rolled out, kept or not)."""
        f = self.filtered
        metrics = {"curriculum/epoch": float(self.order.epoch),
                   "curriculum/frac_zero_variance_groups": f["zero_variance"] / max(f["groups"], 1),
                   "curriculum/rounds": float(f["rounds"]),
                   "curriculum/groups_rolled_out": float(f["groups"])}
        self.filtered = {k: 0 for k in f}
        return metrics

    def state_dict(self) -> dict[str, Any]:
        return {"order": self.order.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.order.load_state_dict(state["order"])
