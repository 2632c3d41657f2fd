"""Length budgets in the style of HBPO (Lyu et al., "Hierarchical Budget Policy Optimization
for Adaptive Reasoning", arXiv 2507.15844): rollout subgroups with different token budgets and
a budget-aware reward. What rlx implements (`reward=length_budget`, single-turn envs only):

1. Budget subgroups. Each task's G rollouts are split into k contiguous subgroups, one per
   budget b_1..b_k: the rollout at position g (0-based) of its group gets b_j, j = floor(g k / G)
   (G = 8, k = 4: positions 0-1 -> b_1, 2-3 -> b_2, ...). The budget is stated in the prompt:
   `prompt` ("{budget}" filled in) is appended as a new line to the last prompt message of that
   rollout (`prompt_notes`, used by the collector). HBPO writes the budget at the start of the
   reasoning; a note in the user turn works for any chat model. Budgets are not enforced as a
   max length: every rollout may use up to `rollout.max_new_tokens`; the reward does the rest.
2. Budget-aware reward (our reading of HBPO's piecewise reward). With n the response length,
   b the row's budget and L = max_length (the generation cap), a correct response earns

       f(n, b) = min( beta cos(pi n / 2L),  beta cos(pi b / 2L) - alpha |n - b| / L )

   f peaks at n = b with beta cos(pi b / 2L): a smaller budget has a higher ceiling (the
   efficiency incentive between subgroups), while inside a subgroup both stopping well short
   of the budget and overrunning it cost alpha per L tokens (a long-budget subgroup keeps
   exploring long reasoning: HBPO's guard against exploration collapse). The term adds
   f(n, b) - task reward to correct rows and 0 to the others, so the shaped reward of a correct
   answer is f(n, b) and a wrong one keeps its task reward (0 in the math envs).
3. Advantages: whatever `advantage=` computes over the whole group (HBPO's inter-subgroup
   comparison); HBPO's additional intra-subgroup advantage is not implemented.

Defaults: budgets 0.125, 0.25, 0.5, 0.625 of L, i.e. HBPO's 512, 1024, 2048 and 2560 tokens
against a 4096-token cap (L = 4096 is our assumption); alpha = beta = 1.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import torch
from torch import Tensor

from rlx.algos.groups import group_size
from rlx.rollout.batch import RolloutBatch


def budget_reward(lengths: Tensor, budgets: Tensor, max_length: int, *, alpha: float = 1.0,
                  beta: float = 1.0) -> Tensor:
    """f(n, b) = min(beta cos(pi n / 2L), beta cos(pi b / 2L) - alpha |n - b| / L); (B,) -> (B,)."""
    n, b = lengths.double(), budgets.double()
    free = beta * torch.cos(math.pi * n / (2 * max_length))
    anchored = beta * torch.cos(math.pi * b / (2 * max_length)) - alpha * (n - b).abs() / max_length
    return torch.minimum(free, anchored).float()


def position_in_group(group_ids: Tensor) -> Tensor:
    """0-based position of each row among the rows of its group, in batch order. (B,) -> (B,)."""
    order = torch.argsort(group_ids, stable=True)
    ids = group_ids[order]
    index = torch.arange(len(ids))
    starts = torch.ones(len(ids), dtype=torch.bool)
    starts[1:] = ids[1:] != ids[:-1]
    first = torch.cummax(torch.where(starts, index, torch.zeros_like(index)), dim=0).values
    position = torch.empty_like(index)
    position[order] = index - first
    return position


def subgroup_of(position: Tensor, size: Tensor, num_budgets: int) -> Tensor:
    """Budget index floor(position * k / G) of each rollout; (B,) long."""
    return (position * num_budgets) // size.clamp(min=1)


@runtime_checkable
class PromptNotes(Protocol):
    """A shaping term that adds a line to each rollout's prompt (by position in the group)."""

    def prompt_notes(self, group_size: int) -> list[str]: ...


def collect_prompt_notes(terms: Iterable, group_size: int) -> list[str] | None:
    """The per-position prompt notes of the one shaping term that has them, else None."""
    noted = [t for t in terms if isinstance(t, PromptNotes)]
    if len(noted) > 1:
        raise ValueError("only one reward term may add prompt notes (e.g. one length_budget)")
    return noted[0].prompt_notes(group_size) if noted else None


@dataclass(frozen=True)
class LengthBudget:
    """The `length_budget` shaping term (module docstring). `budgets` are fractions of
    `max_length` (the generation cap L); `prompt` is formatted with budget=<tokens>."""

    max_length: int
    budgets: tuple[float, ...] = (0.125, 0.25, 0.5, 0.625)
    alpha: float = 1.0
    beta: float = 1.0
    prompt: str = "Use at most {budget} tokens."

    def __post_init__(self) -> None:
        if self.max_length < 1 or not self.budgets or not all(0 < b <= 1 for b in self.budgets):
            raise ValueError("reward.length_budget: need max_length >= 1 and budgets in (0, 1] "
                             f"(got max_length={self.max_length}, budgets={list(self.budgets)})")

    @property
    def budget_tokens(self) -> list[int]:
        return [max(1, round(b * self.max_length)) for b in self.budgets]

    def prompt_notes(self, group_size: int) -> list[str]:
        """The note for each position 0..G-1 of a group."""
        tokens, k = self.budget_tokens, len(self.budgets)
        return [self.prompt.format(budget=tokens[g * k // group_size]) for g in range(group_size)]

    def row_budgets(self, group_ids: Tensor) -> Tensor:
        """Each row's budget in tokens, from its position in its group. (B,) long."""
        index = subgroup_of(position_in_group(group_ids), group_size(group_ids, torch.long),
                            len(self.budgets))
        return torch.tensor(self.budget_tokens)[index]

    def __call__(self, batch: RolloutBatch) -> Tensor:
        if batch.episode_tasks is not None:
            raise ValueError("reward.length_budget works on single-turn environments only")
        f = budget_reward(batch.response_lengths, self.row_budgets(batch.group_ids), self.max_length,
                          alpha=self.alpha, beta=self.beta)
        correct = torch.tensor([s.correct for s in batch.scores], dtype=torch.bool)
        task = torch.tensor([s.reward for s in batch.scores], dtype=torch.float32)
        return torch.where(correct, f - task, torch.zeros_like(f))
