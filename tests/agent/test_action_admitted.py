"""Multi-turn batches record whether the environment admitted each command, and the
invalid-action penalty can count well-formed but inadmissible commands (scripted engine)."""

from functools import partial

import pytest
import torch

from rlx.agent.rollout import AgentSettings, play_episodes
from rlx.envs.pool import EnvPool
from rlx.models.tiny import build_tiny
from rlx.reward.shaping import invalid_action_penalty
from tests.agent.test_hierarchical import ScriptedEngine
from tests.envs.toy_env import ToyWalkEnv

# turn 1 is well-formed but names no command of the toy walk (left/right/stay)
SCRIPT = ["<action>stay</action>", "<action>jump</action>", "<action>stay</action>"]


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    return build_tiny(cache_dir=str(tmp_path_factory.mktemp("cache"))).tokenizer


def play(tokenizer, sample_mode):
    env = ToyWalkEnv(num_tasks=3, wind=0.0)
    settings = AgentSettings(max_steps=3, require_think=False, sample_mode=sample_mode)
    with EnvPool(partial(ToyWalkEnv, num_tasks=3, wind=0.0), 1, step_timeout_s=30,
                 reset_timeout_s=30, max_steps=3) as pool:
        return play_episodes(ScriptedEngine(tokenizer, lambda prompt, call: SCRIPT[call]), tokenizer,
                             pool, env.tasks("train"), 2, seed=0, settings=settings)


def test_step_rows_mark_the_inadmissible_command(tokenizer):
    batch = play(tokenizer, "step")
    assert all(s.format_ok for s in batch.scores)
    assert (batch.step_ids == 1).any()
    assert batch.action_admitted.tolist() == (batch.step_ids != 1).tolist()
    # verl-agent's penalty counts the format only: nothing here
    assert invalid_action_penalty(batch, penalty=0.1).abs().sum() == 0
    penalised = invalid_action_penalty(batch, penalty=0.1, count_inadmissible=True)
    torch.testing.assert_close(penalised, torch.where(batch.step_ids == 1, -0.1, 0.0))


def test_trajectory_rows_are_inadmissible_when_any_step_was(tokenizer):
    steps, batch = play(tokenizer, "step"), play(tokenizer, "trajectory")  # the same 6 episodes
    sent_jump = torch.tensor([bool(((steps.episode_ids == e) & (steps.step_ids == 1)).any())
                              for e in range(6)])
    assert sent_jump.any() and batch.input_ids.shape[0] == 6
    assert batch.action_admitted.tolist() == sent_jump.logical_not().tolist()
    penalised = invalid_action_penalty(batch, penalty=0.5, count_inadmissible=True)
    torch.testing.assert_close(penalised, torch.where(sent_jump, -0.5, 0.0))
