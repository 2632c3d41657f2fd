"""Hierarchical rollouts with a scripted engine (row metadata), and short training runs."""

import math
from functools import partial

import pytest
import torch

from rlx.agent.hierarchical import HierarchicalSettings, play_hierarchical
from rlx.envs.pool import EnvPool
from rlx.models.tiny import build_tiny
from rlx.rollout.base import Generation, GenerationStats
from tests.agent.test_agent_train import agent_run, experiment_run
from tests.envs.toy_env import ToyWalkEnv


class ScriptedEngine:
    """Answers each prompt with `respond(prompt text, call number)`."""

    temperature = 1.0

    def __init__(self, tokenizer, respond):
        self.tokenizer, self.respond, self.calls = tokenizer, respond, 0
        self.last_stats = GenerationStats()

    def generate(self, prompts, *, seed):
        out = []
        for p in prompts:
            text = self.respond(self.tokenizer.decode(p), self.calls)
            ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
            out.append(Generation(list(p), ids + [self.tokenizer.eos_token_id], True))
        self.calls += 1
        return out


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    return build_tiny(cache_dir=str(tmp_path_factory.mktemp("cache"))).tokenizer


def play(tokenizer, respond, group_size, **settings):
    env = ToyWalkEnv(num_tasks=2, wind=0.0)
    settings = HierarchicalSettings(max_steps=3, require_think=False, **settings)
    with EnvPool(partial(ToyWalkEnv, num_tasks=2, wind=0.0), 1, step_timeout_s=30,
                 reset_timeout_s=30, max_steps=3) as pool:
        return play_hierarchical(ScriptedEngine(tokenizer, respond), tokenizer, pool,
                                 env.tasks("train"), group_size, seed=0, settings=settings)


SCRIPT = ["<switch>SWITCH</switch><subgoal>walk</subgoal><action>stay</action>",
          "<switch>KEEP</switch><action>stay</action>",
          "<switch>SWITCH</switch><subgoal>walk more</subgoal><action>stay</action>"]


def test_hiper_rows_carry_segments_switches_and_planner_tokens(tokenizer):
    batch = play(tokenizer, lambda prompt, call: SCRIPT[call], 2, mode="hiper")
    for e in range(4):
        rows = (batch.episode_ids == e).nonzero().squeeze(1)
        assert batch.step_ids[rows].tolist() == list(range(len(rows)))
        assert batch.segment_ids[rows].tolist() == [0, 0, 1][: len(rows)]
    assert (batch.planner_mask <= batch.action_mask).all()
    for i in range(len(batch.tasks)):
        planned = tokenizer.decode(batch.input_ids[i][batch.planner_mask[i]])
        assert planned.startswith(SCRIPT[int(batch.step_ids[i])].split("<action>")[0])
        assert "stay" not in planned
    long = sum(int((batch.episode_ids == e).sum()) == 3 for e in range(4))
    assert batch.stats["rollout/subgoal_switches_per_episode"] == long / 4
    assert all(s.format_ok for s in batch.scores)
    assert 0 < batch.stats["rollout/planner_token_frac"] < 1


def test_hiper_later_prompts_show_the_current_subgoal(tokenizer):
    seen = []

    def respond(prompt, call):
        seen.append(prompt)
        return SCRIPT[call]

    play(tokenizer, respond, 1, mode="hiper")
    assert any("Your current subgoal is: walk" in p for p in seen[1:])
    assert "You have no subgoal yet." in seen[0]


def test_himac_rows_share_blueprints_and_mark_the_blueprint_row(tokenizer):
    def respond(prompt, call):
        return "<plan>1. stay put</plan>" if "<plan> </plan>" in prompt else "<action>stay</action>"

    batch = play(tokenizer, respond, 4, mode="himac", executions_per_blueprint=2)
    blueprint_rows = batch.planner_mask.any(-1)
    assert int(blueprint_rows.sum()) == 4  # 2 tasks x (4 episodes / 2 executions)
    assert torch.equal(batch.planner_mask[blueprint_rows], batch.action_mask[blueprint_rows])
    assert batch.episode_ids[blueprint_rows].tolist() == [0, 2, 4, 6]
    assert (batch.step_ids[blueprint_rows] == 0).all() and (batch.step_ids[~blueprint_rows] >= 1).all()
    assert batch.blueprint_ids[batch.episode_ids % 4 < 2].unique().tolist() == [0]
    assert batch.blueprint_ids[batch.episode_ids % 4 >= 2].unique().tolist() == [1]
    assert batch.seq_rewards[blueprint_rows].abs().sum() == 0
    assert "Your plan is: 1. stay put" in tokenizer.decode(batch.input_ids[~blueprint_rows][0])
    assert batch.stats["rollout/blueprint_valid_ratio"] == 1.0
    assert 1 <= batch.stats["env/episode_length"] <= 3  # execution steps only


def test_himac_refuses_a_group_that_is_not_a_multiple(tokenizer):
    with pytest.raises(ValueError, match="multiple"):
        play(tokenizer, lambda p, c: "", 3, mode="himac", executions_per_blueprint=2)


def test_hierarchical_settings_refuse_trajectory_mode():
    with pytest.raises(ValueError, match="sample_mode=step"):
        HierarchicalSettings(sample_mode="trajectory")


HIER_KEYS = ("loss/policy", "loss/value", "env/success_rate", "rollout/subgoal_switches_per_episode",
             "rollout/segment_length", "advantages/planner_abs_mean", "advantages/executor_abs_mean")


def test_toy_runs_of_both_estimators(tmp_path):
    (hiper_rows) = agent_run(tmp_path / "hiper", "agent=hierarchical", "advantage=hiper")
    assert [r["step"] for r in hiper_rows] == [1, 2]
    for key in HIER_KEYS + ("value/head1_mean",):
        assert math.isfinite(hiper_rows[-1][key]), key
    himac_rows = agent_run(tmp_path / "himac", "agent=hierarchical", "agent.mode=himac",
                           "advantage=himac")
    for key in HIER_KEYS[:1] + HIER_KEYS[2:] + ("rollout/blueprint_valid_ratio",):
        assert math.isfinite(himac_rows[-1][key]), key


def test_hiper_webshop_trains_with_the_tiny_model(tmp_path):
    (row,) = experiment_run(tmp_path, "hiper_webshop")
    for key in HIER_KEYS + ("loss/kl", "reward/invalid_action", "eval/pass@1"):
        assert math.isfinite(row[key]), key
    assert any(k.startswith("env/") and k.endswith("_success_rate") and k != "env/success_rate"
               for k in row)


ALFWORLD_GAMES = ["env.games.num_train=6", "env.games.num_eval=2", "env.games.train_layouts=3",
                  "env.games.eval_layouts=2"]


@pytest.mark.parametrize("experiment", ["hiper_alfworld", "himac_alfworld"])
def test_alfworld_hierarchical_experiments_train_with_the_tiny_model(tmp_path, experiment):
    pytest.importorskip("alfworld", reason="pip install -e '.[alfworld]'")
    games = [*ALFWORLD_GAMES, f"env.games.cache_dir={tmp_path.parent / 'alfworld-games'}"]
    extra = ["agent.executions_per_blueprint=2"] if experiment.startswith("himac") else []
    (row,) = experiment_run(tmp_path, experiment, *games, *extra)
    for key in ("loss/policy", "env/success_rate", "env/episode_length", "reward/invalid_action",
                "rollout/segment_length", "advantages/planner_abs_mean", "eval/pass@1"):
        assert math.isfinite(row[key]), key
    assert any(k.startswith("env/pick_") and k.endswith("_success_rate") for k in row)


@pytest.mark.parametrize("overrides", [["advantage=hiper"],
                                       ["agent=hierarchical", "agent.mode=himac", "advantage=hiper"],
                                       ["agent=hierarchical", "advantage=himac"]])
def test_hierarchical_estimators_refuse_other_agents(tmp_path, overrides):
    with pytest.raises(ValueError, match="agent=hierarchical agent.mode="):
        agent_run(tmp_path, *overrides)
