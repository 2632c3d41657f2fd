"""Synthetic rollout batches and a fake `collect` with known per-task pass rates."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence

import torch

from rlx.envs.base import Score, Task
from rlx.rollout.batch import RolloutBatch
from rlx.utils.seeding import derive_seed


def tasks(n: int, prefix: str = "t") -> list[Task]:
    return [Task(f"{prefix}{i}", f"question {i}", "0") for i in range(n)]


def score(reward: float) -> Score:
    return Score(reward=float(reward), correct=reward >= 1.0, format_ok=True, parsed=None)


def single_turn_batch(group_tasks: Sequence[Task], rewards: Sequence[Sequence[float]],
                      width: int = 4, stats: Mapping[str, float] | None = None) -> RolloutBatch:
    """One row per rollout: rewards[g][i] of rollout i of task g; row r holds tokens r+1 after a
    one-token prompt, `width` columns, the response the last width-1 tokens."""
    flat = [r for group in rewards for r in group]
    group_size = len(rewards[0])
    b = len(flat)
    input_ids = torch.arange(1, b + 1).unsqueeze(1).repeat(1, width)
    action_mask = torch.ones(b, width, dtype=torch.bool)
    action_mask[:, 0] = False
    return RolloutBatch(
        tasks=[t for t in group_tasks for _ in range(group_size)],
        group_ids=torch.arange(len(group_tasks)).repeat_interleave(group_size),
        input_ids=input_ids, attention_mask=torch.ones(b, width, dtype=torch.long),
        action_mask=action_mask, completions=[f"c{i}" for i in range(b)],
        scores=[score(r) for r in flat], finished=[True] * b,
        seq_rewards=torch.tensor(flat, dtype=torch.float32), stats=dict(stats or {}),
    )


def multi_turn_batch(group_tasks: Sequence[Task], steps: Sequence[Sequence[int]],
                     won: Sequence[Sequence[bool]], width: int = 3) -> RolloutBatch:
    """Agent layout: steps[g][i] policy steps in episode i of task g (one row each, in turn
    order), reward 1 on the last step of a won episode; row r's tokens are all r+1."""
    group_size = len(steps[0])
    episodes = [(g, i) for g in range(len(group_tasks)) for i in range(group_size)]
    rows = [(e, s) for s in range(max(max(x) for x in steps)) for e, (g, i) in enumerate(episodes)
            if s < steps[g][i]]
    episode_won = [won[g][i] for g, i in episodes]
    last = {e: steps[g][i] - 1 for e, (g, i) in enumerate(episodes)}
    rewards = [1.0 if episode_won[e] and s == last[e] else 0.0 for e, s in rows]
    b = len(rows)
    return RolloutBatch(
        tasks=[group_tasks[episodes[e][0]] for e, _ in rows],
        group_ids=torch.tensor([e // group_size for e, _ in rows]),
        input_ids=torch.arange(1, b + 1).unsqueeze(1).repeat(1, width),
        attention_mask=torch.ones(b, width, dtype=torch.long),
        action_mask=torch.tensor([[False] + [True] * (width - 1)] * b),
        completions=[f"e{e}s{s}" for e, s in rows],
        scores=[Score(reward=r, correct=episode_won[e], format_ok=True, parsed=None)
                for (e, _), r in zip(rows, rewards)],
        finished=[True] * b, seq_rewards=torch.tensor(rewards),
        episode_ids=torch.tensor([e for e, _ in rows]), step_ids=torch.tensor([s for _, s in rows]),
        anchor_ids=torch.tensor([100 * e + s for e, s in rows]),
        context_ids=torch.tensor([[100 * e + s, -(100 * e + s)] for e, s in rows]),
        episode_tasks=[group_tasks[g] for g, _ in episodes], episode_won=episode_won,
    )


class BernoulliCollect:
    """A fake `collect(tasks, group_size, seed=)`: rollout i of task t is correct with the
    known probability `p[t.uid]`, drawn from a generator seeded by `seed` and the task."""

    def __init__(self, p: Mapping[str, float]):
        self.p = p
        self.calls: list[list[str]] = []

    def __call__(self, group_tasks: Sequence[Task], group_size: int, *, seed: int) -> RolloutBatch:
        self.calls.append([t.uid for t in group_tasks])
        rewards = []
        for t in group_tasks:
            rng = random.Random(derive_seed(seed, t.uid))
            rewards.append([float(rng.random() < self.p[t.uid]) for _ in range(group_size)])
        return single_turn_batch(group_tasks, rewards)
