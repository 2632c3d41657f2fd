"""Reward combiners on hand-computed groups (including all-equal and singleton groups), the
multi-turn layout, and how the loop logs components."""

import math

import pytest
import torch

from rlx.config.compose import check_overrides
from rlx.envs.base import Score, Task
from rlx.reward.combine import combine_rewards, dvao, normalize_then_sum, reward_sum, uses_group_stats
from rlx.train.loop import shape_rewards
from rlx.rollout.batch import RolloutBatch

S = 1 / math.sqrt(2)  # z-score of a two-rollout group with different values


def test_sum_is_the_plain_sum():
    comps = {"task": torch.tensor([1.0, 0.0]), "format": torch.tensor([0.1, -0.2])}
    assert reward_sum(comps, torch.tensor([0, 0])).tolist() == pytest.approx([1.1, -0.2])


def test_normalize_then_sum_by_hand():
    groups = torch.tensor([0, 0, 1, 1])
    comps = {"task": torch.tensor([1.0, 0.0, 1.0, 1.0]), "format": torch.tensor([0.1, 0.0, 0.1, 0.0])}
    # group 0: both components +-1/sqrt2; group 1: task all equal -> 0, format +-1/sqrt2
    assert normalize_then_sum(comps, groups).tolist() == pytest.approx([2 * S, -2 * S, S, -S], abs=1e-4)


def test_dvao_by_hand():
    # task [1, 0, 0]: var 1/3; format [0.1, 0.1, 0]: var 1/300 -> weights 100/101 and 1/101
    comps = {"task": torch.tensor([1.0, 0.0, 0.0]), "format": torch.tensor([0.1, 0.1, 0.0])}
    out = dvao(comps, torch.tensor([4, 4, 4]))
    assert out.tolist() == pytest.approx([1.1489842, -0.5659176, -0.5830666], abs=1e-4)
    # a component that does not vary in the group gets weight 0: only the task reward counts
    comps = {"task": torch.tensor([1.0, 0.0]), "format": torch.tensor([0.1, 0.1])}
    assert dvao(comps, torch.tensor([0, 0])).tolist() == pytest.approx([S, -S], abs=1e-4)


@pytest.mark.parametrize("combine", [normalize_then_sum, dvao])
def test_all_equal_and_singleton_groups_give_zero(combine):
    comps = {"task": torch.tensor([0.0, 0.0, 0.0, 5.0]), "step": torch.tensor([-0.1, -0.1, -0.1, 2.0])}
    assert combine(comps, torch.tensor([0, 0, 0, 1])).tolist() == [0.0, 0.0, 0.0, 0.0]


def test_dvao_advantage_is_bounded():
    gen = torch.Generator().manual_seed(0)
    for size in (2, 5, 16):
        comps = {k: scale * torch.randn(8 * size, generator=gen) for k, scale in
                 (("task", 1.0), ("format", 10.0), ("length", 0.01))}
        groups = torch.arange(8).repeat_interleave(size)
        out = dvao(comps, groups).view(8, size)
        assert out.abs().max() <= (size - 1) / math.sqrt(size) + 1e-4
        assert torch.all((out ** 2).mean(1) <= 1 + 1e-4)
        assert out.sum(1).abs().max() < 1e-4  # centred per group


def test_multi_turn_rows_combine_per_episode_on_the_last_step():
    # group 0: episodes 0 (steps 0, 1) and 1 (step 0); group 1: episodes 2 and 3 (one step each)
    groups, episodes, steps = (torch.tensor(x) for x in ([0, 0, 0, 1, 1], [0, 0, 1, 2, 3], [0, 1, 0, 0, 0]))
    comps = {"task": torch.tensor([0.0, 1.0, 0.0, 1.0, 1.0]),
             "step": torch.tensor([-0.1, -0.1, -0.3, -0.1, -0.1])}
    # sum: row by row, the per-step rewards stay where they are
    assert combine_rewards(reward_sum, comps, groups, episodes, steps).tolist() == pytest.approx(
        [-0.1, 0.9, -0.3, 0.9, 0.9])
    # episode returns: task (1, 0) / (1, 1), step (-0.2, -0.3) / (-0.1, -0.1)
    out = combine_rewards(normalize_then_sum, comps, groups, episodes, steps)
    assert out.tolist() == pytest.approx([0.0, 2 * S, -2 * S, 0.0, 0.0], abs=1e-4)
    assert uses_group_stats(dvao) and not uses_group_stats(reward_sum)


def _batch(rewards, format_ok):
    n = len(rewards)
    mask = torch.ones(n, 2, dtype=torch.bool)
    return RolloutBatch(
        tasks=[Task("t", "p", "a")] * n, group_ids=torch.zeros(n, dtype=torch.long),
        input_ids=torch.zeros(n, 2, dtype=torch.long), attention_mask=mask.long(), action_mask=mask,
        completions=[""] * n, scores=[Score(r, r > 0, ok, None) for r, ok in zip(rewards, format_ok)],
        finished=[True] * n, seq_rewards=torch.tensor(rewards))


def test_shape_rewards_logs_components_and_the_raw_shaped_mean():
    batch = _batch([1.0, 0.0], [True, True])
    stats = shape_rewards(batch, {"bonus": lambda b: torch.tensor([0.5, 0.1])}, dvao)
    assert stats == pytest.approx({"reward/bonus": 0.3, "reward/shaped_mean": 0.8})
    assert batch.seq_rewards.tolist() == pytest.approx([S, -S], abs=1e-4)  # the combined reward
    with pytest.raises(ValueError, match='"task"'):
        shape_rewards(_batch([1.0], [True]), {"task": lambda b: torch.zeros(1)})


def test_reward_combine_composes_with_reward_lists():
    cfg = check_overrides(["reward=[format,overlong,length_budget]", "reward_combine=dvao"])
    assert set(cfg.reward) == {"format", "overlong", "length_budget"}
    assert cfg.reward_combine._target_ == "rlx.reward.combine.dvao"
    assert check_overrides([]).reward_combine._target_ == "rlx.reward.combine.reward_sum"
