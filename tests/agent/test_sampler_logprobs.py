"""Sampler log-probs through the multi-turn rollouts: on every sampled (action) token of step
rows and trajectory rows, 0 on prompts and environment turns (fake engine, known log-probs)."""

import pytest
import torch

from rlx.agent.rollout import AgentSettings, play_episodes
from rlx.envs.pool import EnvPool
from rlx.models.tiny import build_tiny
from rlx.rollout.hf import HFEngine
from tests.envs.toy_env import ToyWalkEnv
from tests.rollout.fakes import KnownLogprobs, known_logprob


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return build_tiny(cache_dir=str(tmp_path_factory.mktemp("cache")))


def play(tiny, engine, mode):
    settings = AgentSettings(max_steps=3, require_think=False, sample_mode=mode)
    with EnvPool(ToyWalkEnv, 1, step_timeout_s=30, reset_timeout_s=30, max_steps=3) as pool:
        return play_episodes(engine, tiny.tokenizer, pool, ToyWalkEnv(num_tasks=2).tasks("train"), 2,
                             seed=0, settings=settings)


def expected(batch) -> torch.Tensor:
    """known_logprob of each token on the action tokens, 0 elsewhere."""
    known = torch.tensor([[known_logprob(t) for t in row] for row in batch.input_ids.tolist()])
    return known * batch.action_mask


@pytest.mark.parametrize("mode", ["step", "trajectory"])
def test_sampler_logprobs_sit_on_the_sampled_tokens(tiny, mode):
    engine = KnownLogprobs(HFEngine(tiny.model, tiny.tokenizer, max_new_tokens=6))
    batch = play(tiny, engine, mode)
    assert batch.sampler_logprobs.shape == batch.input_ids.shape
    torch.testing.assert_close(batch.sampler_logprobs, expected(batch))
    assert (batch.sampler_logprobs[batch.action_mask.bool()] < 0).all()
    if mode == "trajectory":  # environment turns between the responses are not actions
        assert batch.action_mask.sum() < (batch.attention_mask.sum() - batch.attention_mask[:, :1].sum())


@pytest.mark.parametrize("mode", ["step", "trajectory"])
def test_an_engine_without_logprobs_leaves_them_none(tiny, mode):
    batch = play(tiny, HFEngine(tiny.model, tiny.tokenizer, max_new_tokens=6), mode)
    assert batch.sampler_logprobs is None
