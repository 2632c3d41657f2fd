"""Single-turn rollouts: G samples per task, scored by the environment."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from rlx.envs.base import Score, SingleTurnEnv, Task
from rlx.rollout.batch import pack_sequences


@dataclass
class RolloutBatch:
    """B rows of prompt + response, right-padded, (B,T) tensors on CPU. Single-turn: one row per
    sampled answer (tasks x G). Multi-turn: one row per policy step of tasks x G episodes."""

    tasks: list[Task]                # (B,) the task of each sequence
    group_ids: torch.Tensor          # (B,) long; sequences of one task share an id
    input_ids: torch.Tensor          # (B,T)
    attention_mask: torch.Tensor     # (B,T)
    action_mask: torch.Tensor        # (B,T) response tokens
    completions: list[str]           # (B,) decoded responses
    scores: list[Score]              # (B,) task scores
    finished: list[bool]             # (B,) stopped at eos (False: cut at max_new_tokens)
    seq_rewards: torch.Tensor = field(default=None)  # (B,) task reward + shaping
    stats: dict[str, float] = field(default_factory=dict)
    # multi-turn batches (rlx.agent): one row per policy step
    episode_ids: torch.Tensor | None = None   # (B,) the episode of each row
    step_ids: torch.Tensor | None = None      # (B,) the step's index in its episode
    anchor_ids: torch.Tensor | None = None    # (B,) anchor-state key of the step (GiGPO)
    context_ids: torch.Tensor | None = None   # (B, K+1) keys of the last k observations (HGPO)
    episode_tasks: list[Task] | None = None   # (E,) the task of each episode
    episode_won: list[bool] | None = None     # (E,) solved

    @property
    def response_lengths(self) -> torch.Tensor:
        return self.action_mask.sum(-1)


def encode_prompt(tokenizer, messages: list[dict[str, str]]) -> list[int]:
    text = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def with_note(messages: list[dict[str, str]], note: str) -> list[dict[str, str]]:
    """`messages` with `note` appended as a new line to the last message's content."""
    last = messages[-1]
    return [*messages[:-1], {**last, "content": f"{last['content']}\n{note}"}]


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
    )


def token_rewards(seq_rewards: torch.Tensor, action_mask: torch.Tensor) -> torch.Tensor:
    """(B,) sequence rewards -> (B,T) token rewards placed on each sequence's last action token."""
    rewards = torch.zeros(action_mask.shape, dtype=torch.float32)
    positions = torch.arange(action_mask.shape[1]).expand_as(action_mask)
    last = torch.where(action_mask.bool(), positions, -1).max(dim=1).values
    has_action = last >= 0
    rewards[has_action.nonzero().squeeze(1), last[has_action]] = seq_rewards[has_action].float()
    return rewards


def episode_returns(batch: RolloutBatch) -> torch.Tensor:
    """(E,) the summed reward of each episode (single-turn: each row is an episode)."""
    if batch.episode_ids is None:
        return batch.seq_rewards
    num = len(batch.episode_tasks)
    return torch.zeros(num).index_add_(0, batch.episode_ids, batch.seq_rewards.float())


def episode_solved(batch: RolloutBatch) -> list[bool]:
    return batch.episode_won if batch.episode_won is not None else [s.correct for s in batch.scores]


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
