"""Single-turn rollouts: G samples per task, scored by the environment."""

from __future__ import annotations

import time
from collections.abc import Sequence

import torch

from rlx.envs.base import SingleTurnEnv, Task
from rlx.rollout.batch import (RolloutBatch, encode_prompt, episode_returns, episode_solved,
                               pack_sampler_logprobs, pack_sequences, with_note)


def collect(engine, tokenizer, env: SingleTurnEnv, tasks: Sequence[Task], group_size: int,
            seed: int, prompt_notes: Sequence[str] | None = None) -> RolloutBatch:
    """Generate `group_size` responses per task (one engine call) and score them.
    `prompt_notes` (G,): a line appended to the last prompt message of the rollout at each
    position of a group (e.g. its length budget, `rlx.reward.budget`)."""
    expanded = [t for t in tasks for _ in range(group_size)]
    if prompt_notes is None:
        prompts = [encode_prompt(tokenizer, env.messages(t)) for t in tasks]
        prompts = [p for p in prompts for _ in range(group_size)]
    else:
        prompts = [encode_prompt(tokenizer, with_note(env.messages(t), prompt_notes[g]))
                   for t in tasks for g in range(group_size)]
    generations = engine.generate(prompts, seed=seed)
    input_ids, attention_mask, action_mask = pack_sequences(generations, tokenizer.pad_token_id)
    completions = tokenizer.batch_decode([g.response_ids for g in generations], skip_special_tokens=True)
    start = time.perf_counter()
    scores = env.score(expanded, completions)
    score_time = time.perf_counter() - start
    group_ids = torch.arange(len(tasks)).repeat_interleave(group_size)
    return RolloutBatch(
        tasks=expanded, group_ids=group_ids, input_ids=input_ids, attention_mask=attention_mask,
        action_mask=action_mask, completions=completions, scores=scores,
        finished=[g.finished for g in generations],
        seq_rewards=torch.tensor([s.reward for s in scores], dtype=torch.float32),
        stats={**engine.last_stats.metrics(), "perf/time/score": score_time},
        sampler_logprobs=pack_sampler_logprobs(generations, input_ids.shape[1]),
    )


def token_rewards(seq_rewards: torch.Tensor, action_mask: torch.Tensor) -> torch.Tensor:
    """(B,) sequence rewards -> (B,T) token rewards placed on each sequence's last action token."""
    rewards = torch.zeros(action_mask.shape, dtype=torch.float32)
    positions = torch.arange(action_mask.shape[1]).expand_as(action_mask)
    last = torch.where(action_mask.bool(), positions, -1).max(dim=1).values
    has_action = last >= 0
    rewards[has_action.nonzero().squeeze(1), last[has_action]] = seq_rewards[has_action].float()
    return rewards


def rollout_metrics(batch: RolloutBatch, group_size: int) -> dict[str, float]:
    """reward/, rollout/ and response_length/ figures for one batch (rewards per episode)."""
    r = episode_returns(batch)
    task_r = torch.tensor([s.reward for s in batch.scores])
    grouped = r.view(-1, group_size)
    lengths = batch.response_lengths.float()
    solved = episode_solved(batch)
    return {
        "reward/mean": r.mean().item(),
        "reward/std": r.std().item() if r.numel() > 1 else 0.0,
        "reward/task_mean": task_r.mean().item(),
        "rollout/correct": sum(solved) / len(solved),
        "rollout/format_ok": sum(s.format_ok for s in batch.scores) / len(batch.scores),
        "rollout/frac_reward_zero_std": (grouped.std(dim=1, unbiased=False) == 0).float().mean().item(),
        "rollout/truncated": 1.0 - sum(batch.finished) / len(batch.finished),
        "rollout/num_rows": float(len(batch.scores)),
        "response_length/mean": lengths.mean().item(),
        "response_length/max": lengths.max().item(),
        "response_length/min": lengths.min().item(),
    }
