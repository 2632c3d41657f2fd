"""SALT end to end: the salt_* experiments and advantage=salt on the toy env, tiny model."""

import math

import pytest

from tests.agent.test_agent_train import agent_run, experiment_run


def assert_logged(row, *keys):
    for key in ("loss/policy", "env/success_rate", "advantages/abs_mean", "perf/time/advantage", *keys):
        assert key in row and math.isfinite(row[key]), key


@pytest.mark.parametrize("base", ["grpo", "rloo"])
def test_salt_on_the_toy_walk_trains_multi_turn(tmp_path, base):
    rows = agent_run(tmp_path, "advantage=salt", f"advantage@advantage.base={base}")
    assert [r["step"] for r in rows] == [1, 2]
    for row in rows:
        assert_logged(row, "env/episode_length")
        assert 1 <= row["env/episode_length"] <= 3


def test_salt_webshop_trains_with_the_tiny_model(tmp_path):
    (row,) = experiment_run(tmp_path, "salt_webshop")
    assert_logged(row, "loss/kl", "reward/invalid_action", "eval/pass@1")
    assert row["reward/invalid_action"] < 0  # a random tiny model writes malformed actions


def test_salt_alfworld_trains_with_the_tiny_model(tmp_path):
    pytest.importorskip("alfworld", reason="pip install -e '.[alfworld]'")
    games = ["env.games.num_train=6", "env.games.num_eval=2", "env.games.train_layouts=3",
             "env.games.eval_layouts=2", f"env.games.cache_dir={tmp_path.parent / 'alfworld-games'}"]
    (row,) = experiment_run(tmp_path, "salt_alfworld", *games)
    assert_logged(row, "env/episode_length", "reward/invalid_action", "eval/pass@1")
    assert any(k.startswith("env/pick_") and k.endswith("_success_rate") for k in row)
