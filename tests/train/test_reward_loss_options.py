"""Short CPU runs with every reward-shaping, reward-combining and loss option of issue 6: each
completes with finite losses and logs its metrics; EPO's entropy history is checkpointed and
restored; length budgets reach the training prompts (not the evaluation prompts)."""

import math

import pytest

from rlx.config.compose import check_overrides
from rlx.launch import prepare
from rlx.train.checkpoint import list_checkpoints, load_latest
from rlx.run_dir import read_config
from rlx.train.recipe import build_run
from tests.train.helpers import TINY, train_run

FAST = ["iterations=2", "trainer.tasks_per_iter=2", "trainer.group_size=4", "rollout.max_new_tokens=12"]


@pytest.mark.slow
@pytest.mark.parametrize("options, expected", [
    (["loss=epo", "reward=[format,length_budget]", "reward_combine=dvao"],
     ["loss/entropy_smoothing", "policy/entropy_out_of_band", "reward/length_budget", "reward/format"]),
    (["loss=clip_cov", "reward=[step_penalty,overlong]", "reward_combine=normalize_then_sum"],
     ["policy/cov_clipfrac", "reward/step_penalty", "reward/overlong"]),
    (["loss=kl_cov"], ["policy/kl_cov_frac"]),
], ids=["epo-budget-dvao", "clipcov-steps-normalize", "klcov"])
def test_option_runs_with_finite_losses(tmp_path, options, expected):
    _, rows = train_run(tmp_path, *FAST, *options)
    assert [r["step"] for r in rows] == [1, 2]
    common = ["loss/policy", "loss/total", "policy/entropy", "policy/approx_kl", "policy/clipfrac_low",
              "policy/clipfrac_high", "reward/task_mean", "reward/shaped_mean", "reward/mean"]
    for row in rows:
        for key in common + expected:
            assert key in row and math.isfinite(row[key]), key


@pytest.mark.slow
def test_epo_history_is_checkpointed_and_restored(tmp_path):
    run_dir, _ = train_run(tmp_path, *FAST, "loss=epo", "trainer.checkpoint_every=1")
    steps = list_checkpoints(run_dir)
    assert [p.name for p in steps] == ["step_1", "step_2"]
    state = load_latest(run_dir)
    assert state["entropy_history"]["counts"] == {0: 2}  # single-turn rows: turn 0, 2 iterations
    resumed = build_run(read_config(run_dir), run_dir)
    assert resumed.start_iteration == 2
    assert resumed.entropy_history.state_dict() == state["entropy_history"]


@pytest.mark.slow
def test_length_budget_notes_reach_training_prompts_only(tmp_path):
    args = [*TINY, f"runs_root={tmp_path}", *FAST, "reward=length_budget"]
    config, run_dir = prepare(check_overrides(args), choices={}, overrides=args)
    run = build_run(config, run_dir)
    tasks = list(run.curriculum.sample(1))
    batch = run.collect(tasks, 4, seed=0)
    prompts = [run.tokenizer.decode(ids[~action & mask.bool()])
               for ids, action, mask in zip(batch.input_ids, batch.action_mask, batch.attention_mask)]
    # rollout.max_new_tokens=12: budgets 0.125/0.25/0.5/0.625 of 12 -> 2, 3, 6, 8 tokens
    for prompt, budget in zip(prompts, (2, 3, 6, 8)):
        assert f"Use at most {budget} tokens." in prompt
    plain = run.eval_collect(tasks, 1, seed=0)
    assert "Use at most" not in run.tokenizer.decode(plain.input_ids[0][plain.attention_mask[0].bool()])


@pytest.mark.slow
@pytest.mark.parametrize("options", [
    ["loss=epo", "reward=[step_penalty,invalid_action]", "reward_combine=dvao", "advantage=gigpo"],
    ["reward=[step_penalty]", "reward_combine=normalize_then_sum", "agent.sample_mode=trajectory"],
], ids=["epo-steps-dvao-gigpo", "trajectory-normalize"])
def test_multi_turn_options_run(tmp_path, options):
    from tests.agent.test_agent_train import agent_run

    rows = agent_run(tmp_path, *options)
    for row in rows:
        for key in ("loss/policy", "reward/step_penalty", "reward/shaped_mean", "policy/entropy"):
            assert key in row and math.isfinite(row[key]), key
        assert row["reward/step_penalty"] < 0
