"""Every curriculum trains end to end on CPU with the tiny model, logs its metrics, and resumes
exactly; dynamic sampling with nothing informative to train on neither crashes nor moves weights."""

import math

import pytest
import torch

from rlx.config.compose import check_overrides
from rlx.launch import prepare
from rlx.train.loop import train
from rlx.train.recipe import build_run
from tests.agent.test_agent_train import agent_run
from tests.curriculum.fakes import BernoulliCollect
from tests.train.helpers import learning_metrics, train_run

RUN = ["env=sanity_digits", "trainer.tasks_per_iter=2", "trainer.group_size=4", "rollout.max_new_tokens=12",
       "trainer.lr=1e-3", "trainer.checkpoint_every=1", "trainer.eval_every=2", "trainer.eval_tasks=2"]
CURRICULA = {
    "difficulty_band": "curriculum/in_band_frac",
    "dynamic_filter": "curriculum/frac_zero_variance_groups",
    "d3s": "curriculum/kept_token_frac",
    "pcl": "curriculum/predicted_pass_rate",
}


@pytest.mark.parametrize("name", CURRICULA)
def test_each_curriculum_trains_and_resumes_exactly(tmp_path, name):
    # d3s: the schedule spans the full 4 iterations in the split run too
    args = [f"curriculum={name}", *RUN, *(["curriculum.total_iters=4"] if name == "d3s" else [])]
    _, straight = train_run(tmp_path / "straight", *args, "iterations=4")
    for row in straight:
        for key in ("loss/policy", "policy/grad_norm", "reward/mean", CURRICULA[name]):
            assert math.isfinite(row[key]), (key, row)
    run_dir, first = train_run(tmp_path / "split", *args, "iterations=2")
    _, resumed = train_run(tmp_path / "split", *args, "iterations=4", f"resume={run_dir}")
    assert [r["step"] for r in resumed] == [1, 2, 3, 4]
    assert learning_metrics(resumed) == learning_metrics(straight)


def test_d3s_trains_on_fewer_tokens_early(tmp_path):
    _, rows = train_run(tmp_path, "curriculum=d3s", *RUN, "iterations=2", "curriculum.until=1.0")
    assert rows[0]["curriculum/sample_keep"] == 0.5 and rows[1]["curriculum/sample_keep"] == 0.75
    assert rows[0]["curriculum/kept_sample_frac"] == 0.5       # 2 of each group of 4
    assert 0 < rows[0]["curriculum/kept_token_frac"] <= 0.25   # half the tokens of half the rows


def test_dynamic_filter_with_nothing_informative_has_no_gradient_signal(tmp_path):
    """At the cap with no group kept, the first round is trained on as it is: zero advantages,
    so (without KL or entropy terms) a zero gradient and unchanged weights, and no NaN."""
    args = ["experiment=none", "model=tiny", "logger=none", f"runs_root={tmp_path}", "curriculum=dynamic_filter",
            "curriculum.max_rounds=2", "iterations=2", *RUN, "trainer.eval_tasks=0",
            "loss.kl_coef=0", "loss.entropy_coef=0"]
    config, run_dir = prepare(check_overrides(args), choices={}, overrides=args)
    run = build_run(config, run_dir)
    never = BernoulliCollect({t.uid: 0.0 for t in run.curriculum.order.tasks})
    real = run.collect

    def collect(tasks, group_size, *, seed):   # real tokens from the policy, task rewards all 0
        batch = real(tasks, group_size, seed=seed)
        fake = never(tasks, group_size, seed=seed)
        batch.scores, batch.seq_rewards = fake.scores, fake.seq_rewards
        return batch

    run.collect = collect
    before = {n: p.detach().clone() for n, p in run.model.named_parameters()}
    metrics = train(run)
    assert metrics["curriculum/kept_groups"] == 0.0 and metrics["curriculum/rounds"] == 2.0
    assert metrics["curriculum/frac_zero_variance_groups"] == 1.0
    assert all(math.isfinite(v) for v in metrics.values() if isinstance(v, float))
    assert len(never.calls) == 4   # 2 iterations x 2 rounds
    assert metrics["advantages/abs_mean"] == 0.0
    assert all(torch.equal(before[n], p) for n, p in run.model.named_parameters())


@pytest.mark.parametrize("name", ["dynamic_filter", "d3s", "difficulty_band"])
def test_multi_turn_agents_train_with_each_curriculum(tmp_path, name):
    rows = agent_run(tmp_path, f"curriculum={name}", "advantage=gigpo")
    assert all(math.isfinite(r["loss/policy"]) for r in rows)
    assert any(k.startswith("curriculum/") and k != "curriculum/epoch" for k in rows[-1])
