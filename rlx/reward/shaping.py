"""Reward shaping terms: each maps a rollout batch to a (B,) bonus added to the row rewards.

Selected as a list in conf/reward/ (`reward=[format,invalid_action]`); every term's mean is
logged as `reward/<name>` next to the task reward.
"""

from __future__ import annotations

import torch

from rlx.rollout.batch import RolloutBatch


def invalid_action_penalty(batch: RolloutBatch, *, penalty: float = 0.1,
                           count_inadmissible: bool = False) -> torch.Tensor:
    """-penalty on every step whose output did not follow the action format
    (verl-agent: r -= c * (1 - action_valid), c = 0.1; arXiv 2505.10978).

    count_inadmissible: also penalise a well-formed command the environment does not admit
    (ALFWorld's admissible commands, WebShop's clickables). verl-agent counts the format only,
    so a model that already writes the format (after SFT) gets no penalty at all, and groups of
    episodes that all fail have no reward variance. Trajectory rows (one per episode) are
    penalised once when any of their steps was invalid, as for the format.
    """
    ok = torch.tensor([s.format_ok for s in batch.scores], dtype=torch.bool)
    if count_inadmissible:
        if batch.action_admitted is None:
            raise ValueError("reward.invalid_action.count_inadmissible=true needs a multi-turn "
                             "environment that reports admissible actions (env=alfworld, webshop); "
                             "this rollout has none")
        ok &= batch.action_admitted
    return torch.where(ok, 0.0, -penalty)


def format_bonus(batch: RolloutBatch, *, bonus: float = 0.1) -> torch.Tensor:
    """+bonus for a response whose answer could be extracted (single-turn: a final answer;
    multi-turn: a well-formed action)."""
    return torch.tensor([bonus if s.format_ok else 0.0 for s in batch.scores])


def overlong_penalty(batch: RolloutBatch, *, max_length: int, buffer: int) -> torch.Tensor:
    """DAPO's soft overlong punishment (arXiv 2503.14476): for a response of L tokens,
    min(0, -(L - (max_length - buffer)) / buffer), i.e. 0 up to max_length - buffer, then a
    linear ramp down to -1 at max_length (and below beyond it)."""
    lengths = batch.response_lengths.float()
    return torch.clamp(-(lengths - (max_length - buffer)) / buffer, max=0.0)


def step_penalty(batch: RolloutBatch, *, penalty: float = 0.01) -> torch.Tensor:
    """-penalty per environment step the row's policy took, so an episode of n steps loses
    penalty * n in total (pushes agents to solve tasks in fewer steps). Steps are counted as
    contiguous runs of action tokens: 1 for a step row (agent.sample_mode=step) or a
    single-turn answer, the number of turns for a whole-trajectory row, 0 for a row without
    action tokens (an errored episode)."""
    return -penalty * action_runs(batch.action_mask).float()


def action_runs(action_mask: torch.Tensor) -> torch.Tensor:
    """Number of contiguous runs of action tokens in each row; (B, T) -> (B,) long."""
    mask = action_mask.bool()
    starts = mask[:, 1:] & ~mask[:, :-1]
    return mask[:, 0].long() + starts.sum(-1)
