"""Advantage estimators: one signature, selected by `_target_` in conf/advantage/.

    fn(rewards, action_mask, group_ids, values=None, *, <config kwargs>) -> (advantages, returns)

rewards      (B, T) float  token rewards; the outcome reward sits on the last action token
action_mask  (B, T)        policy tokens only (bool or 0/1 float)
group_ids    (B,)   long   rollouts of one task share an (arbitrary) id
values       (B, T) | None value-head predictions (only `gae` uses them)

Both outputs are (B, T) and exactly 0 off action tokens. `returns` is the value-loss target
for `gae`; the others return the per-token return they computed. Estimators that need a
value head carry `requires_values = True`; ask with `needs_values(fn)` (works on partials).
"""

from __future__ import annotations

import functools
from typing import Protocol

import torch
from torch import Tensor

from rlx.algos.groups import group_size, group_sum
from rlx.algos.normalize import Scope, moments, normalize
from rlx.algos.returns import broadcast_to_actions, discounted_returns, sequence_scores


class AdvantageFn(Protocol):
    """What the trainer calls: an estimator with its config kwargs already bound."""

    def __call__(
        self, rewards: Tensor, action_mask: Tensor, group_ids: Tensor, values: Tensor | None = None
    ) -> tuple[Tensor, Tensor]: ...


def needs_values(estimator: AdvantageFn) -> bool:
    """True when the estimator (a function or a functools.partial of one) needs a value head."""
    while isinstance(estimator, functools.partial):
        estimator = estimator.func
    return bool(getattr(estimator, "requires_values", False))


def value_heads(estimator: AdvantageFn) -> int:
    """How many values per token the estimator's value head gives (1 unless it says more, e.g.
    HiPER's two-head critic); works on partials."""
    while isinstance(estimator, functools.partial):
        estimator = estimator.func
    return int(getattr(estimator, "value_heads", 1))


def grpo(
    rewards: Tensor,
    action_mask: Tensor,
    group_ids: Tensor,
    values: Tensor | None = None,
    *,
    mean: Scope = "group",
    std: Scope = "group",
    eps: float = 1e-6,
) -> tuple[Tensor, Tensor]:
    """Group-relative advantage, broadcast to the rollout's action tokens.

    GRPO (DeepSeekMath, arXiv 2402.03300): A_i = (R_i - mean_g R) / (std_g R + eps), with
    R_i the sequence score (sum of rewards over action tokens). The normalisation is
    `normalize(mean=..., std=...)` on the scores: Dr. GRPO (arXiv 2503.20783) is std="none",
    Lite PPO is std="batch". Group of one or all-equal rewards: A = 0.
    Returns (advantages, returns = R_i broadcast), both (B, T).
    """
    scores = sequence_scores(rewards, action_mask)
    advantages = normalize(scores, None, group_ids, mean=mean, std=std, eps=eps)
    return broadcast_to_actions(advantages, action_mask), broadcast_to_actions(scores, action_mask)


def rloo(
    rewards: Tensor,
    action_mask: Tensor,
    group_ids: Tensor,
    values: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """REINFORCE leave-one-out: A_i = R_i - (1 / (G - 1)) sum_{j != i} R_j.

    Kool et al., "Buy 4 REINFORCE Samples, Get a Baseline for Free!" (ICLR DeepRLStructPred
    workshop 2019); Ahmadian et al., arXiv 2402.14740. G is the row's group size; a group of
    one gets A = 0. Returns (advantages, returns = R_i broadcast), both (B, T).
    """
    scores = sequence_scores(rewards, action_mask)
    size = group_size(group_ids, dtype=scores.dtype)
    others = (group_sum(scores, group_ids) - scores) / (size - 1).clamp(min=1)
    advantages = torch.where(size > 1, scores - others, torch.zeros_like(scores))
    return broadcast_to_actions(advantages, action_mask), broadcast_to_actions(scores, action_mask)


def reinforce_pp(
    rewards: Tensor,
    action_mask: Tensor,
    group_ids: Tensor,
    values: Tensor | None = None,
    *,
    gamma: float = 1.0,
    eps: float = 1e-6,
) -> tuple[Tensor, Tensor]:
    """REINFORCE++ (arXiv 2501.03262): token-level discounted returns, whitened over the batch.

    G_t = sum_{k >= t} gamma^(k - t) r_k over action tokens (r includes a KL-in-reward
    penalty when the trainer adds one); A = (G - mean) / (std + eps) with mean and unbiased
    std over all action tokens of the batch. Returns (advantages, returns = G).
    """
    returns = discounted_returns(rewards, action_mask, gamma)
    advantages = normalize(returns, action_mask, group_ids, mean="batch", std="batch", eps=eps)
    return advantages, returns


def reinforce_pp_baseline(
    rewards: Tensor,
    action_mask: Tensor,
    group_ids: Tensor,
    values: Tensor | None = None,
    *,
    gamma: float = 1.0,
    eps: float = 1e-6,
) -> tuple[Tensor, Tensor]:
    """REINFORCE++-baseline (arXiv 2501.03262): subtract the group mean score, then whiten.

    A_t = G_t - mean_g R (G_t the discounted reward-to-go, R the sequence score; with
    gamma = 1 and an outcome reward this is R_i - mean_g R on every token), then
    (A - mean) / (std + eps) over all action tokens of the batch. Returns (advantages, G).
    """
    returns = discounted_returns(rewards, action_mask, gamma)
    scores = sequence_scores(rewards, action_mask)
    baseline = moments(scores, None, group_ids, "group")[0]  # exact for equal members
    centred = returns - broadcast_to_actions(baseline, action_mask)
    advantages = normalize(centred, action_mask, group_ids, mean="batch", std="batch", eps=eps)
    return advantages, returns


def gae(
    rewards: Tensor,
    action_mask: Tensor,
    group_ids: Tensor,
    values: Tensor | None = None,
    *,
    gamma: float = 1.0,
    lam: float = 0.95,
    mean: Scope = "batch",
    std: Scope = "batch",
    eps: float = 1e-6,
) -> tuple[Tensor, Tensor]:
    """Generalised Advantage Estimation for PPO (Schulman et al., arXiv 1506.02438).

    Over the action tokens t_1 < ... < t_n of a sequence (other tokens are transparent: V and
    A are carried through them, so multi-turn observation tokens do not break the recursion):
        delta_k = r_k + gamma V_{k+1} - V_k      (V_{n+1} = 0: the episode ends)
        A_k     = delta_k + gamma lam A_{k+1}
    returns = A + V (the value-loss target, before normalisation); the advantages are then
    normalised with `normalize(mean=..., std=...)` over action tokens (default: batch
    whitening, as PPO implementations do; "none"/"none" keeps the raw GAE).
    `values` (B, T) is required and treated as a constant (detached).
    """
    if values is None:
        raise ValueError("gae needs `values` (B, T) from a value head")
    mask = action_mask.to(rewards.dtype)
    is_action = mask > 0
    rewards = rewards * mask
    values = torch.where(is_action, values.detach().to(rewards.dtype), torch.zeros_like(rewards))
    raw = torch.zeros_like(rewards)
    next_value = rewards.new_zeros(rewards.shape[0])
    next_advantage = rewards.new_zeros(rewards.shape[0])
    for t in reversed(range(rewards.shape[-1])):
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        here = is_action[:, t]
        next_advantage = torch.where(here, delta + gamma * lam * next_advantage, next_advantage)
        next_value = torch.where(here, values[:, t], next_value)
        raw[:, t] = next_advantage
    raw = raw * mask
    returns = (raw + values) * mask
    return normalize(raw, action_mask, group_ids, mean=mean, std=std, eps=eps), returns


gae.requires_values = True
