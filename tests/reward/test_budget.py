"""HBPO-style length budgets: the budget-aware reward at and around the budget, subgroup
assignment by position, prompt notes, and the shaping term on a batch."""

import math

import pytest
import torch

from rlx.envs.base import Score, Task
from rlx.reward.budget import (LengthBudget, budget_reward, collect_prompt_notes, position_in_group,
                               subgroup_of)
from rlx.train.recipe import with_prompt_notes
from rlx.rollout.batch import RolloutBatch, with_note
from rlx.train.rollout import collect

C = math.cos(math.pi / 4)  # beta cos(pi b / 2L) for b = L / 2


@pytest.mark.parametrize("n, expected", [
    (50, C),                          # at the budget: the peak
    (25, C - 0.25),                   # 25 tokens short: alpha * 25 / 100
    (75, math.cos(3 * math.pi / 8)),  # over: the cosine is the smaller term
    (51, min(math.cos(51 * math.pi / 200), C - 0.01)),  # one token over the boundary
    (0, C - 0.5),
])
def test_budget_reward_by_hand(n, expected):
    out = budget_reward(torch.tensor([n]), torch.tensor([50]), 100, alpha=1.0, beta=1.0)
    assert out.item() == pytest.approx(expected, abs=1e-6)


def test_smaller_budget_has_higher_peak_and_beta_scales():
    peaks = budget_reward(torch.tensor([10, 50, 90]), torch.tensor([10, 50, 90]), 100)
    assert peaks[0] > peaks[1] > peaks[2]
    assert budget_reward(torch.tensor([50]), torch.tensor([50]), 100, beta=2.0).item() == pytest.approx(2 * C)


def test_positions_and_subgroups():
    assert position_in_group(torch.tensor([7, 7, 3, 7, 3])).tolist() == [0, 1, 0, 2, 1]
    pos = torch.arange(8)
    assert subgroup_of(pos, torch.full((8,), 8), 4).tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    assert subgroup_of(torch.arange(2), torch.full((2,), 2), 4).tolist() == [0, 2]
    assert subgroup_of(torch.arange(5), torch.full((5,), 5), 2).tolist() == [0, 0, 0, 1, 1]


def test_prompt_notes_per_position():
    term = LengthBudget(max_length=128)  # budgets 16, 32, 64, 80 tokens
    assert term.budget_tokens == [16, 32, 64, 80]
    assert term.prompt_notes(4) == [f"Use at most {b} tokens." for b in (16, 32, 64, 80)]
    assert term.prompt_notes(8)[1::2] == term.prompt_notes(4)
    assert collect_prompt_notes([object(), term], 4) == term.prompt_notes(4)
    assert collect_prompt_notes([object()], 4) is None
    with pytest.raises(ValueError, match="only one"):
        collect_prompt_notes([term, term], 4)
    assert with_note([{"role": "user", "content": "2+2?"}], "Use at most 16 tokens.") == [
        {"role": "user", "content": "2+2?\nUse at most 16 tokens."}]


def _batch(lengths, correct, group_ids, episode_tasks=None):
    n, width = len(lengths), max(lengths)
    mask = torch.tensor([[1] * k + [0] * (width - k) for k in lengths], dtype=torch.bool)
    return RolloutBatch(
        tasks=[Task("t", "p", "a")] * n, group_ids=torch.tensor(group_ids),
        input_ids=torch.zeros(n, width, dtype=torch.long), attention_mask=mask.long(),
        action_mask=mask, completions=[""] * n,
        scores=[Score(1.0 if c else 0.0, c, True, None) for c in correct], finished=[True] * n,
        episode_tasks=episode_tasks)


def test_length_budget_term_replaces_a_correct_reward():
    term = LengthBudget(max_length=100, budgets=(0.25, 0.5))
    # group of 4: positions 0-1 -> 25 tokens, 2-3 -> 50 tokens
    batch = _batch([25, 50, 50, 10], [True, True, True, False], [0, 0, 0, 0])
    bonus = term(batch)
    expected = [math.cos(math.pi / 8) - 1,         # at its budget 25: the peak (cosine of 25)
                math.cos(math.pi / 8) - 0.25 - 1,  # 25 over budget 25: peak - 0.25 < cos(pi/4)
                math.cos(math.pi / 4) - 1,         # at its budget 50
                0.0]                               # wrong: keeps its task reward
    assert bonus.tolist() == pytest.approx(expected, abs=1e-6)
    with pytest.raises(ValueError, match="single-turn"):
        term(_batch([5], [True], [0], episode_tasks=[Task("t", "p", "a")]))
    with pytest.raises(ValueError, match="budgets in"):
        LengthBudget(max_length=100, budgets=(0.5, 1.5))


def test_notes_go_to_training_rollouts_only():
    single = lambda: None  # noqa: E731 -- any collector that is not the single-turn one
    train, evaluation = with_prompt_notes(collect, None)
    assert train is collect and evaluation is None
    from functools import partial

    base = partial(collect, "engine", "tokenizer", "env")
    train, evaluation = with_prompt_notes(base, ["a", "b"])
    assert train.keywords == {"prompt_notes": ["a", "b"]} and evaluation is base
    with pytest.raises(ValueError, match="multi-turn"):
        with_prompt_notes(single, ["a"])
