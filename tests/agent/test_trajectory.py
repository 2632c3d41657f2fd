"""Trajectory mode: each episode is one growing chat; only the policy's tokens are actions."""

import math

import pytest
import torch
from omegaconf import OmegaConf

from rlx.agent.rollout import AgentSettings, next_turn_ids, play_episodes
from rlx.config.compose import check_overrides
from rlx.envs.pool import EnvPool
from rlx.launch import prepare
from rlx.logging.base import read_metrics
from rlx.models.tiny import build_tiny
from rlx.rollout.hf import HFEngine
from rlx.train.recipe import run
from rlx.rollout.batch import encode_prompt
from tests.envs.toy_env import ToyWalkEnv


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return build_tiny(cache_dir=str(tmp_path_factory.mktemp("cache")))


def test_next_turn_ids_continue_the_chat_template_exactly(tiny):
    tok = tiny.tokenizer
    first = [{"role": "user", "content": "reach cell 3"}]
    prompt = encode_prompt(tok, first)
    full = tok.apply_chat_template(
        [*first, {"role": "assistant", "content": "left"}, {"role": "user", "content": "now at 2"}],
        add_generation_prompt=True, tokenize=False)
    end_of_turn = next_turn_ids(tok, "now at 2", [])[0]
    for response in (tok("left", add_special_tokens=False)["input_ids"],             # cut short
                     tok("left", add_special_tokens=False)["input_ids"] + [end_of_turn]):  # stopped
        ids = prompt + response + next_turn_ids(tok, "now at 2", response)
        assert tok.decode(ids) == full


def test_trajectory_rows_mask_only_policy_tokens(tiny):
    engine = HFEngine(tiny.model, tiny.tokenizer, max_new_tokens=6)
    settings = AgentSettings(max_steps=3, require_think=False, sample_mode="trajectory")
    env = ToyWalkEnv(num_tasks=2)
    with EnvPool(ToyWalkEnv, 1, step_timeout_s=30, reset_timeout_s=30, max_steps=3) as pool:
        batch = play_episodes(engine, tiny.tokenizer, pool, env.tasks("train"), 2, seed=0,
                              settings=settings)
    assert batch.input_ids.shape[0] == 4 and batch.episode_ids is None  # one row per episode
    steps = batch.stats["env/episode_length"] * 4
    assert 4 <= steps <= 12
    # every action token is a sampled token; the environment's turns in between are not actions
    assert batch.action_mask.sum() < batch.attention_mask.sum()
    assert (batch.action_mask.long() <= batch.attention_mask).all()


def toy_run(tmp_path, *overrides):
    args = ["experiment=none", "model=tiny", "logger=none", f"runs_root={tmp_path}", "iterations=2",
            "trainer.tasks_per_iter=2", "trainer.group_size=2", "rollout.max_new_tokens=8",
            "agent.max_steps=3", "agent.require_think=false", "agent.sample_mode=trajectory",
            "trainer.eval_tasks=2", *overrides]
    cfg = OmegaConf.to_container(check_overrides(args), resolve=False)
    cfg["env"] = {"_target_": "tests.envs.toy_env.ToyWalkEnv", "num_tasks": 4}
    _, run_dir = prepare(OmegaConf.create(cfg), choices={}, overrides=args)
    run(run_dir)
    return read_metrics(run_dir / "metrics.jsonl")


@pytest.mark.parametrize("advantage", ["grpo", "gae"])
def test_trajectory_mode_trains(tmp_path, advantage):
    rows = toy_run(tmp_path, f"advantage={advantage}")
    assert [r["rollout/num_rows"] for r in rows] == [4.0, 4.0]
    assert all(math.isfinite(r["loss/policy"]) and math.isfinite(r["env/success_rate"]) for r in rows)


def test_trajectory_mode_refuses_step_level_estimators(tmp_path):
    with pytest.raises(ValueError, match="need agent.sample_mode=step"):
        toy_run(tmp_path, "advantage=gigpo")
