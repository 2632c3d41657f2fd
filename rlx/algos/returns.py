"""Per-sequence scores and per-token returns over action tokens (shared by the estimators).

Tokens outside `action_mask` are *transparent*: they are not time steps, carry no reward and
get 0, and the running return passes through them unchanged (multi-turn observation tokens
between two actions do not discount or break the return).
"""

from __future__ import annotations

import torch
from torch import Tensor


def sequence_scores(rewards: Tensor, action_mask: Tensor) -> Tensor:
    """Sequence score = sum of the token rewards over action tokens. (B, T) -> (B,).

    With the outcome reward on the last action token this is the rollout's return R_i;
    a sequence without action tokens scores 0.
    """
    return (rewards * action_mask.to(rewards.dtype)).sum(-1)


def broadcast_to_actions(scores: Tensor, action_mask: Tensor) -> Tensor:
    """Copy a per-sequence value to each of its action tokens, 0 elsewhere. (B,) -> (B, T)."""
    return scores[:, None] * action_mask.to(scores.dtype)


def discounted_returns(rewards: Tensor, action_mask: Tensor, gamma: float) -> Tensor:
    """Reward-to-go G_t = sum_{k >= t} gamma^(k - t) r_k over action tokens. (B, T) -> (B, T).

    k counts action tokens only (non-action tokens are transparent); 0 off action tokens.
    """
    mask = action_mask.to(rewards.dtype)
    rewards = rewards * mask
    if gamma == 1.0:  # undiscounted: a reversed cumulative sum, no loop over T
        return rewards.flip(-1).cumsum(-1).flip(-1) * mask
    is_action = mask > 0
    returns = torch.zeros_like(rewards)
    running = rewards.new_zeros(rewards.shape[0])
    for t in reversed(range(rewards.shape[-1])):
        running = torch.where(is_action[:, t], rewards[:, t] + gamma * running, running)
        returns[:, t] = running
    return returns * mask
