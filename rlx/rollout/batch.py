"""The rollout batch type and turning generations into the (B, T) tensors the log-prob forward and
the losses use. Environments, rewards, agents and the trainer all read `RolloutBatch` from here."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from rlx.envs.base import Score, Task
from rlx.rollout.base import Generation


def pack_sequences(
    generations: Sequence[Generation],
    pad_id: int,
    device: torch.device | str | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Lay out prompt + response rows, each starting at column 0 and right-padded.

    T = the longest prompt + response in the batch (no wider):

        [p p p r r r eos pad pad]
        [p p p p p r r   r   r  ]

    Right padding (not the left padding generation uses) keeps every padding position
    after real tokens, so under the causal mask each padding query still attends to a
    real key: no fully masked attention rows, whose softmax is NaN in some fused CUDA
    kernels and then turns gradients NaN even where the loss masks them out.

    Returns (input_ids (B, T) long, attention_mask (B, T) long: 1 on prompt and response
    tokens, action_mask (B, T) bool: True on response tokens, the final eos included).
    Padding positions hold `pad_id`; only the masks say what is padding.
    """
    if not generations:
        raise ValueError("pack_sequences needs at least one generation")
    batch = len(generations)
    width = max(len(g.prompt_ids) + len(g.response_ids) for g in generations)
    input_ids = torch.full((batch, width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((batch, width), dtype=torch.long)
    action_mask = torch.zeros((batch, width), dtype=torch.bool)
    for row, g in enumerate(generations):
        prompt, end = len(g.prompt_ids), len(g.prompt_ids) + len(g.response_ids)
        input_ids[row, :end] = torch.tensor([*g.prompt_ids, *g.response_ids], dtype=torch.long)
        attention_mask[row, :end] = 1
        action_mask[row, prompt:end] = True
    if device is not None:
        return input_ids.to(device), attention_mask.to(device), action_mask.to(device)
    return input_ids, attention_mask, action_mask


def pack_sampler_logprobs(generations: Sequence[Generation], width: int) -> torch.Tensor | None:
    """The sampler's log-probs laid out like `pack_sequences`: (B, width) float32 holding
    `Generation.logprobs[j]` at the column of response token j (prompt length + j), the column
    whose trainer log-prob scores the same token; 0 elsewhere. None when any generation carries
    no log-probs (an engine that does not report them, e.g. `rollout=hf`)."""
    if not generations or any(g.logprobs is None for g in generations):
        return None
    out = torch.zeros((len(generations), width), dtype=torch.float32)
    for row, g in enumerate(generations):
        if len(g.logprobs) != len(g.response_ids):
            raise ValueError(f"generation {row}: {len(g.logprobs)} sampler log-probs for "
                             f"{len(g.response_ids)} response tokens")
        start = len(g.prompt_ids)
        out[row, start : start + len(g.logprobs)] = torch.tensor(g.logprobs, dtype=torch.float32)
    return out


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
    # hierarchical agents (rlx.agent.hierarchical: HiPER, HiMAC)
    planner_mask: torch.Tensor | None = None   # (B,T) bool planner tokens, a subset of action_mask
    segment_ids: torch.Tensor | None = None    # (B,) subgoal segment of the step in its episode
    blueprint_ids: torch.Tensor | None = None  # (B,) blueprint the episode executes (HiMAC)
    # (B,) bool: every command of the row was one the environment admits (multi-turn rows only;
    # None when the rollout does not report it). Step rows: that step; trajectory rows: all steps.
    action_admitted: torch.Tensor | None = None
    # the sampler's own per-token log-probs (vLLM), for mismatch metrics and correction
    sampler_logprobs: torch.Tensor | None = None  # (B,T) float on action tokens, 0 elsewhere

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


def episode_returns(batch: RolloutBatch) -> torch.Tensor:
    """(E,) the summed reward of each episode (single-turn: each row is an episode)."""
    if batch.episode_ids is None:
        return batch.seq_rewards
    num = len(batch.episode_tasks)
    return torch.zeros(num).index_add_(0, batch.episode_ids, batch.seq_rewards.float())


def episode_solved(batch: RolloutBatch) -> list[bool]:
    return batch.episode_won if batch.episode_won is not None else [s.correct for s in batch.scores]
