"""DAPO dynamic sampling: zero-variance detection, filtering metrics and state."""

import pytest
import torch

from rlx.curriculum.base import GroupFilter
from rlx.curriculum.dynamic_filter import DynamicFilterCurriculum, informative_groups
from tests.curriculum.fakes import tasks


def test_zero_variance_groups_are_detected():
    rewards = torch.tensor([[0.0, 0.0, 0.0, 0.0],    # all wrong
                            [1.0, 1.0, 1.0, 1.0],    # all right
                            [0.5, 0.5, 0.5, 0.5],    # any constant
                            [0.0, 1.0, 0.0, 0.0],
                            [0.2, 0.2, 0.3, 0.2],
                            [-1.0, 0.0, 0.0, 0.0]])
    assert informative_groups(rewards).tolist() == [False, False, False, True, True, True]


def test_filter_metrics_cover_every_round_and_reset_each_iteration():
    curriculum = DynamicFilterCurriculum(tasks(8), seed=0, max_rounds=2)
    assert isinstance(curriculum, GroupFilter)
    curriculum.keep_groups(torch.tensor([[0.0, 0.0], [0.0, 1.0]]))
    curriculum.keep_groups(torch.tensor([[1.0, 1.0], [1.0, 1.0]]))
    metrics = curriculum.update([], [])
    assert metrics["curriculum/frac_zero_variance_groups"] == 0.75
    assert metrics["curriculum/rounds"] == 2.0 and metrics["curriculum/groups_rolled_out"] == 4.0
    assert curriculum.update([], [])["curriculum/rounds"] == 0.0


def test_state_round_trip_continues_the_task_order():
    a = DynamicFilterCurriculum(tasks(10), seed=1)
    a.sample(4)
    b = DynamicFilterCurriculum(tasks(10), seed=1)
    b.load_state_dict(a.state_dict())
    assert [t.uid for t in a.sample(7)] == [t.uid for t in b.sample(7)]


def test_max_rounds_must_be_positive():
    with pytest.raises(ValueError, match="curriculum.max_rounds"):
        DynamicFilterCurriculum(tasks(2), seed=0, max_rounds=0)
