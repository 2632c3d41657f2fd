"""Old log-probs from the update's own forward (one pass) when the update is strictly on-policy,
and the sampler/trainer mismatch metrics and correction in a training run."""

import dataclasses
import math
from functools import partial

import pytest
import torch

from rlx.config.compose import check_overrides
from rlx.launch import prepare
from rlx.train import loop
from rlx.train.recipe import build_run
from rlx.train.rollout import collect
from tests.rollout.fakes import KnownLogprobs, OffsetLogprobs, known_logprob

# one update on a batch whose rewards differ within groups (non-zero advantages)
ONE_UPDATE = ["iterations=1", "env=sanity_digits", "trainer.tasks_per_iter=4", "trainer.group_size=8",
              "rollout.max_new_tokens=16", "trainer.lr=1e-3", "trainer.eval_tasks=0",
              "trainer.micro_batch_size=8"]


def built(tmp_path, *overrides):
    args = ["experiment=none", "model=tiny", "logger=none", f"runs_root={tmp_path}", *ONE_UPDATE, *overrides]
    config, run_dir = prepare(check_overrides(args), choices={}, overrides=args)
    return build_run(config, run_dir)


@pytest.mark.parametrize("overrides, scored", [
    ([], False),
    (["loss.kl_coef=0.1"], False),                       # KL in the loss: only the reference pass
    (["loss.rollout_correction=none", "loss=gspo"], False),
    (["trainer.ppo_epochs=2"], True),
    (["trainer.minibatches=2"], True),
    (["advantage=gae"], True),                           # values before the advantages
    (["loss.kl_coef=0.1", "loss.kl_in=reward"], True),   # old log-probs in the reward
    (["curriculum=d3s"], True),                          # entropy and advantages pick the data
    (["loss=epo"], True),                                # entropy history before the update
])
def test_scoring_pass_only_when_something_reads_it_before_the_update(tmp_path, overrides, scored):
    assert loop.needs_scoring_pass(built(tmp_path, *overrides)) is scored


def test_empg_needs_the_scoring_pass():
    from rlx.algos.step_advantages import empg, gigpo, needs_entropy

    assert needs_entropy(partial(empg)) and not needs_entropy(partial(gigpo))


def test_one_pass_equals_two_pass(tmp_path, monkeypatch):
    """Same batch, same losses and the same parameters after one iteration, whether old
    log-probs come from a separate scoring pass or from the update's own forward."""
    one = built(tmp_path / "one")
    assert not loop.needs_scoring_pass(one)
    m_one = loop.train(one)
    two = built(tmp_path / "two")
    monkeypatch.setattr(loop, "needs_scoring_pass", lambda run: True)
    m_two = loop.train(two)
    assert m_one["advantages/abs_mean"] > 0  # a real learning signal
    assert m_one["reward/mean"] == m_two["reward/mean"]  # same rollouts
    assert m_one["policy/ratio_mean"] == 1.0 and m_one["policy/approx_kl"] == 0.0  # exactly on-policy
    for key in ("loss/policy", "loss/total", "policy/entropy", "policy/grad_norm"):
        assert m_one[key] == pytest.approx(m_two[key], rel=1e-5, abs=1e-7), key
    worst = max((a - b).abs().max().item() for a, b in zip(one.model.parameters(), two.model.parameters()))
    moved = max((a - b).abs().max().item() for a, b in
                zip(one.model.parameters(), built(tmp_path / "init").model.parameters()))
    assert moved > 1e-4 and worst < 1e-6, (moved, worst)


def with_engine(run, engine):
    """`run` sampling with `engine` (single-turn collector)."""
    env = run.collect.args[2]
    run.engine = engine
    run.collect = partial(collect, engine, run.tokenizer, env)
    return run


def test_single_turn_collect_packs_the_sampler_logprobs(tmp_path):
    run = built(tmp_path)
    run = with_engine(run, KnownLogprobs(run.engine))
    batch = run.collect(run.curriculum.sample(2), 4, seed=0)
    known = torch.tensor([[known_logprob(t) for t in row] for row in batch.input_ids.tolist()])
    torch.testing.assert_close(batch.sampler_logprobs, known * batch.action_mask)


@pytest.mark.parametrize("scored", [False, True])
def test_mismatch_metrics_and_tis_in_a_training_run(tmp_path, monkeypatch, scored):
    """The sampler reports the trainer's log-probs minus 0.1: the logged gap is 0.1, the k3 KL
    e^0.1 - 1.1, and TIS with C = 1.05 truncates every weight e^0.1 = 1.105 to 1.05."""
    run = built(tmp_path)
    run = with_engine(run, OffsetLogprobs(run.engine, run.model, run.tokenizer.pad_token_id, 0.1))
    run.objective = dataclasses.replace(run.objective, rollout_correction="tis", rollout_correction_high=1.05)
    if scored:
        monkeypatch.setattr(loop, "needs_scoring_pass", lambda run: True)
    m = loop.train(run)
    assert m["rollout/logprob_abs_diff"] == pytest.approx(0.1, abs=1e-4)
    assert m["rollout/mismatch_kl"] == pytest.approx(math.exp(0.1) - 1.1, abs=1e-4)
    assert m["rollout/is_weight_mean"] == pytest.approx(1.05, abs=1e-6)
    assert m["rollout/is_clipped_frac"] == 1.0 and m["rollout/is_clipped_seq_frac"] == 1.0


def test_hf_engine_with_a_correction_is_a_config_error(tmp_path):
    from rlx.config.validate import ConfigError

    with pytest.raises(ConfigError, match="loss.rollout_correction=tis needs the sampler's log-probs"):
        built(tmp_path, "loss.rollout_correction=tis")
