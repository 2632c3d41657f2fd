import pytest
import torch

from rlx.config.compose import check_overrides
from rlx.envs.base import Score, Task
from rlx.reward.shaping import (action_runs, format_bonus, invalid_action_penalty, overlong_penalty,
                                step_penalty)
from rlx.rollout.batch import RolloutBatch


def batch(format_ok, lengths):
    t = len(format_ok)
    width = max(lengths)
    action = torch.tensor([[1] * n + [0] * (width - n) for n in lengths], dtype=torch.bool)
    return RolloutBatch(
        tasks=[Task("u", "p", "a")] * t, group_ids=torch.zeros(t, dtype=torch.long),
        input_ids=torch.zeros(t, width, dtype=torch.long), attention_mask=action.long(),
        action_mask=action, completions=[""] * t,
        scores=[Score(0.0, False, ok, None) for ok in format_ok], finished=[True] * t)


def test_invalid_action_penalty():
    b = batch([True, False, True], [1, 2, 3])
    torch.testing.assert_close(invalid_action_penalty(b, penalty=0.1), torch.tensor([0.0, -0.1, 0.0]))


def test_invalid_action_penalty_can_count_inadmissible_commands():
    b = batch([True, False, True, True], [1, 1, 1, 1])
    b.action_admitted = torch.tensor([True, False, False, True])
    assert invalid_action_penalty(b, penalty=0.1).tolist() == pytest.approx([0.0, -0.1, 0.0, 0.0])
    torch.testing.assert_close(invalid_action_penalty(b, penalty=0.1, count_inadmissible=True),
                               torch.tensor([0.0, -0.1, -0.1, 0.0]))


def test_counting_inadmissible_commands_needs_an_env_that_reports_them():
    with pytest.raises(ValueError, match="count_inadmissible.*admissible actions"):
        invalid_action_penalty(batch([True], [1]), count_inadmissible=True)


def test_format_bonus():
    assert format_bonus(batch([True, False], [1, 1]), bonus=0.5).tolist() == [0.5, 0.0]


def test_overlong_penalty_ramp():
    # max 10, buffer 4: free up to 6 tokens, then -1/4 per token: 8 -> -0.5, 10 -> -1.0
    b = batch([True] * 4, [5, 6, 8, 10])
    assert overlong_penalty(b, max_length=10, buffer=4).tolist() == [0.0, 0.0, -0.5, -1.0]


def test_reward_terms_compose_as_a_list():
    cfg = check_overrides(["reward=[format,invalid_action]"])
    assert set(cfg.reward) == {"format", "invalid_action"}
    assert check_overrides([]).reward == {}


def test_action_runs_count_turns():
    mask = torch.tensor([[1, 1, 0, 0, 0, 0],    # one step row
                         [0, 1, 1, 0, 1, 1],    # a trajectory row: 2 turns
                         [1, 0, 1, 0, 1, 0],    # 3 turns
                         [0, 0, 0, 0, 0, 0]])   # an errored episode: no actions
    assert action_runs(mask).tolist() == [1, 2, 3, 0]


def test_step_penalty_per_step_and_per_trajectory():
    b = batch([True] * 3, [2, 3, 1])  # step rows / single-turn answers: one step each
    assert step_penalty(b, penalty=0.05).tolist() == pytest.approx([-0.05] * 3)
    b.action_mask = torch.tensor([[1, 0, 1], [1, 1, 1], [0, 0, 0]], dtype=torch.bool)
    assert step_penalty(b, penalty=0.05).tolist() == pytest.approx([-0.1, -0.05, 0.0])
