"""Episode bookkeeping for per-step samples (the step-level estimators' shared helpers).

In multi-turn training every policy step of every episode is one row of the batch. A row
belongs to a group (`group_ids`, the G episodes of one task), an episode (`episode_ids`) and
sits at a position in it (`step_ids`). Rows may come in any order. An episode is identified
by the pair (group id, episode id), so episode ids only need to be unique within a group.

Shape letters: B rows (steps), E episodes, S = 1 + the largest step id.
"""

from __future__ import annotations

import torch
from torch import Tensor


def pair_index(first: Tensor, second: Tensor) -> tuple[Tensor, int]:
    """Dense ids 0..n-1 of the pairs (first[i], second[i]), numbered in the pairs' sorted
    (lexicographic) order. (B,), (B,) -> ((B,), n).

    Each column is first made dense on its own (1-D `torch.unique`), then the pair becomes
    the single exact key a * n_b + b (< B^2): the same ids as `torch.unique(dim=0)` on the
    stacked pairs, which is an order of magnitude slower on CPU.
    """
    if first.numel() == 0:
        return first.new_zeros(0, dtype=torch.long), 0
    _, a = torch.unique(first.long(), return_inverse=True)
    _, b = torch.unique(second.long(), return_inverse=True)
    _, index = torch.unique(a * (int(b.max().item()) + 1) + b, return_inverse=True)
    return index, int(index.max().item()) + 1


def episode_groups(episode: Tensor, group_ids: Tensor, n_episodes: int) -> Tensor:
    """The group id of each episode. episode (B,) dense ids, group_ids (B,) -> (E,)."""
    out = group_ids.new_zeros(n_episodes)
    return out.scatter_(0, episode, group_ids)  # all rows of an episode share the group id


def episode_totals(values: Tensor, episode: Tensor, n_episodes: int) -> Tensor:
    """Sum of the rows' values per episode (the undiscounted episode return). (B,) -> (E,)."""
    return values.new_zeros(n_episodes).index_add_(0, episode, values)


def step_table(episode: Tensor, step_ids: Tensor, n_episodes: int) -> Tensor:
    """Row index of each (episode, step) cell, -1 where the episode has no such step. -> (E, S).

    Raises ValueError on a negative step id or two rows claiming the same step of one episode.
    """
    if step_ids.numel() and int(step_ids.min().item()) < 0:
        raise ValueError("step_ids must be >= 0 (the position of the step in its episode)")
    n_steps = int(step_ids.max().item()) + 1 if step_ids.numel() else 0
    cell = episode * n_steps + step_ids.long()
    if torch.unique(cell).numel() != cell.numel():
        raise ValueError("two rows have the same (group, episode, step): each step is one row")
    table = torch.full((n_episodes * n_steps,), -1, dtype=torch.long, device=episode.device)
    table[cell] = torch.arange(cell.numel(), device=episode.device)
    return table.view(n_episodes, n_steps)


def discounted_step_returns(step_rewards: Tensor, table: Tensor, gamma: float) -> Tensor:
    """R_t = sum_{k >= t} gamma^(k - t) r_k over the steps k of t's episode. (B,) -> (B,).

    `table` is `step_table(...)`; k and t are step ids, so a missing step (a gap in the ids)
    carries no reward but still counts one discount factor.
    """
    present = table >= 0
    rewards = torch.where(present, step_rewards[table.clamp(min=0)], step_rewards.new_zeros(()))
    returns = torch.zeros_like(rewards)
    running = step_rewards.new_zeros(table.shape[0])
    for s in reversed(range(table.shape[1])):
        running = rewards[:, s] + gamma * running
        returns[:, s] = running
    out = torch.zeros_like(step_rewards)
    out[table[present]] = returns[present]
    return out


def next_step_rows(table: Tensor) -> Tensor:
    """For each row, the row of the next recorded step of its episode, -1 for the last. -> (B,)."""
    out = torch.full((int(table.ge(0).sum().item()),), -1, dtype=torch.long, device=table.device)
    following = torch.full((table.shape[0],), -1, dtype=torch.long, device=table.device)
    for s in reversed(range(table.shape[1])):
        rows = table[:, s]
        here = rows >= 0
        out[rows[here]] = following[here]
        following = torch.where(here, rows, following)
    return out
