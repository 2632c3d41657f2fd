import dataclasses

import pytest

from rlx.envs.base import Score, SingleTurnEnv, Task
from rlx.envs.math import GeneratedTasks, MathEnv


def test_task_defaults_and_frozen():
    task = Task(uid="t-1", prompt="What is 1 + 1?", answer="2")
    assert (task.task_type, task.difficulty) == ("default", None)
    with pytest.raises(dataclasses.FrozenInstanceError):
        task.answer = "3"


def test_score_fields():
    score = Score(reward=1.0, correct=True, format_ok=True, parsed="2")
    assert dataclasses.astuple(score) == (1.0, True, True, "2")


def test_math_env_satisfies_single_turn_protocol():
    env = MathEnv(source=GeneratedTasks(kinds=["addition"], size_per_kind=20), num_eval=5)
    assert isinstance(env, SingleTurnEnv)
